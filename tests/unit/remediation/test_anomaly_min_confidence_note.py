"""Anomaly signals carry a calibrated confidence (at most the top step of
``forecasting.anomaly.calibration.NAB``, 0.647), no longer the detector's 0.9999: a
runbook whose anomaly trigger asks for more can never be started by an anomaly. It still
loads (an upgrade must not stop the daemon), with a note naming the trigger, the number
asked and the most an anomaly carries, printed by ``autonomic runbooks validate`` and
logged when the daemon loads it."""

from __future__ import annotations

from pathlib import Path

from forecasting.anomaly.calibration import NAB
from remediation.loading import check_paths

RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: error-spike-pause
  description: A runbook.
spec:
  mode: enforce
  triggers:
    - type: alert
      alertname: SomethingWrong
    - type: anomaly
      metric: http_error_ratio
      minConfidence: {confidence}
  target:
    kind: Deployment
  actions:
    - type: pauseRollout
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
  onFailure:
    undo: false
"""


def _notes(tmp_path: Path, confidence: float) -> list[str]:
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK.format(confidence=confidence))
    report = check_paths([path])
    assert report.issues == () and len(report.runbooks) == 1
    return [str(n) for n in report.notes if "minConfidence" in n.path]


def test_an_anomaly_trigger_asking_more_than_any_anomaly_carries_is_noted(tmp_path: Path) -> None:
    top = max(NAB.probabilities)
    (note,) = _notes(tmp_path, 0.9)
    assert "spec.triggers[1].minConfidence" in note
    assert "0.9" in note and f"{top:g}" in note and "no anomaly will ever start" in note


def test_one_an_anomaly_can_reach_is_not_noted(tmp_path: Path) -> None:
    assert _notes(tmp_path, 0.6) == []
    assert _notes(tmp_path, max(NAB.probabilities)) == []
