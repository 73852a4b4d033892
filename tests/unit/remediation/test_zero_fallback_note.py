"""A runbook query written with ``or vector(0)`` reads a missing series (a target whose
scrape stopped) as 0: a precondition ``> 0.05`` is then false, and a check ``< 0.01``
passes on no data. The runbook still loads (some authors mean it), with a note naming
the file, the line and the field, what the fallback does, and that dropping it leaves
no data said as no data: printed by ``autonomic runbooks validate`` and ``autonomic
config check``, logged when the daemon loads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from remediation.loading import check_paths

RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: error-rate-pause
  description: A runbook.
spec:
  mode: enforce
  triggers:
    - type: alert
      alertname: ErrorRateHigh
  target:
    kind: Deployment
  preconditions:
    - type: promql
      query: 'sum(rate(http_errors_total{{deployment="{{{{name}}}}"}}[5m])) {precondition}'
      condition: "> 0.05"
  actions:
    - type: pauseRollout
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
      - type: promql
        query: 'sum(rate(http_errors_total{{deployment="{{{{name}}}}"}}[5m])) {check}'
        condition: "< 0.01"
  onFailure:
    undo: false
"""


def _write(tmp_path: Path, precondition: str, check: str) -> Path:
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK.format(precondition=precondition, check=check))
    return path


def _fallback_notes(path: Path) -> list[str]:
    report = check_paths([path])
    assert report.issues == () and len(report.runbooks) == 1, report.issues
    return [str(n) for n in report.notes if "reads a missing series" in n.message]


def test_a_zero_fallback_in_a_precondition_and_a_check_is_noted_at_its_line(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, "or vector(0)", "OR on() vector(0)")
    precondition, check = _fallback_notes(path)
    assert precondition.startswith(
        f"{path}:15: note: spec.preconditions[0].query: 'or vector(0)' reads a missing "
        "series (a target whose scrape stopped, a metric renamed) as 0, so the "
        "precondition is judged on that number instead of holding the runbook back (NoData)"
    ), precondition
    assert precondition.endswith(
        "drop it unless that is meant: without it, no data is reported as no data"
    )
    assert check.startswith(
        f"{path}:24: note: spec.verification.checks[1].query: 'OR on() vector(0)' reads a "
        "missing series"
    ), check
    assert "a condition such as '< 0.01' passes on no data" in check


def test_a_query_without_a_constant_fallback_is_not_noted(tmp_path: Path) -> None:
    assert _fallback_notes(_write(tmp_path, "", "")) == []
    # A fallback to another series, or an ``or`` that is no fallback, says nothing.
    assert _fallback_notes(_write(tmp_path, "or sum(up)", "> 0 or vector_like")) == []


def test_runbooks_validate_and_config_check_print_the_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "or on() vector(0)", "")
    assert main(["runbooks", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}:15: note: spec.preconditions[0].query: 'or on() vector(0)' reads" in out
    config = tmp_path / "autonomic.yaml"
    config.write_text("runbooks: []\n")
    assert main(["config", "check", str(config), "--runbooks", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        f"  runbooks: {path}:15: note: spec.preconditions[0].query: 'or on() vector(0)' reads"
        in out
    ), out
