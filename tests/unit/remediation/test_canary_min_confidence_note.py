"""A canary trigger's ``minConfidence`` is on the scale the judge states: its calibrated
confidence (``forecasting.canary.calibration``), whose promotions top out far below its
rollbacks. A runbook asking more than the judge can state for a verdict still loads, with
a note naming the file's line, the field and the number the table allows, printed by
``autonomic runbooks validate`` and ``config check`` and logged when the daemon loads it."""

from __future__ import annotations

from pathlib import Path

from forecasting.canary.calibration import CALIBRATION
from forecasting.canary.verdict import Decision
from remediation.loading import check_paths
from remediation.signals import CANARY_CONFIRMED

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"

RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: promote-it
  description: A runbook.
spec:
  mode: enforce
  triggers:
    - type: canary
      verdicts: [{verdicts}]
      minConfidence: {confidence}
  target:
    kind: Deployment
  actions:
    - type: rollback
  verification:
    checks:
      - type: kubernetes
        condition: rolloutComplete
  onFailure:
    undo: false
"""


def _top(decision: Decision) -> float:
    return max(p for _, p in CALIBRATION[decision])


def _notes(tmp_path: Path, verdicts: str, confidence: float) -> list[str]:
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK.format(verdicts=verdicts, confidence=confidence))
    report = check_paths([path])
    assert report.issues == () and len(report.runbooks) == 1
    return [str(n) for n in report.notes if "minConfidence" in n.path]


def test_a_promotion_trigger_above_what_the_judge_states_is_noted(tmp_path: Path) -> None:
    top = _top(Decision.PROMOTE)
    (note,) = _notes(tmp_path, "promote", 0.8)
    assert note.startswith(f"{tmp_path / 'runbook.yaml'}:11")  # the minConfidence line
    assert "spec.triggers[0].minConfidence" in note
    assert f"above the most the canary judge states for a promote verdict ({top:g}" in note


def test_the_limit_is_each_verdicts_own(tmp_path: Path) -> None:
    # 0.8 is within what a rollback is stated with, not a promotion.
    (note,) = _notes(tmp_path, "rollback, promote", 0.8)
    assert "promote verdict" in note and "rollback verdict" not in note
    assert _notes(tmp_path, "rollback", 0.8) == []
    assert _notes(tmp_path, "promote", _top(Decision.PROMOTE)) == []
    assert _notes(tmp_path, "promote", 0.6) == []


def test_the_shipped_runbooks_ask_nothing_the_judge_cannot_state() -> None:
    report = check_paths([RUNBOOKS])
    assert report.issues == ()
    assert [str(n) for n in report.notes if "canary judge" in str(n)] == []


def test_a_canary_trigger_on_a_verdict_never_sent_to_the_runbooks_is_noted(
    tmp_path: Path,
) -> None:
    """The canary loop sends the runbooks a rollback or a promotion only: ``continue`` is
    no verdict yet, and ``inconclusive`` (the maximum duration reached, or a canary off
    its metric's scale, ``OffScale``) is escalated to a person. A trigger on them loaded
    without a word and never fired."""
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK.format(verdicts="rollback, inconclusive", confidence=0))
    report = check_paths([path])
    assert report.issues == ()
    (note,) = [str(n) for n in report.notes if "verdicts" in n.path]
    assert note.startswith(f"{tmp_path / 'runbook.yaml'}:10")  # the verdicts line
    assert "spec.triggers[0].verdicts" in note
    assert "never sends an inconclusive verdict to the runbooks" in note
    path.write_text(RUNBOOK.format(verdicts="rollback, promote", confidence=0))
    assert [n for n in check_paths([path]).notes if "verdicts" in n.path] == []


def test_a_trigger_above_what_even_an_approved_verdict_carries_says_none_starts_it(
    tmp_path: Path,
) -> None:
    """A verdict a person approved is sent with the judge's confidence or
    ``CANARY_CONFIRMED``, whichever is more. A ``minConfidence`` above both is met by no
    verdict at all; the note said "only one a person approved does (it is sent at
    0.99)", which sent the author away thinking approvals would start the runbook."""
    for verdict, confidence in (("promote", 0.995), ("rollback", 0.998)):
        (note,) = _notes(tmp_path, verdict, confidence)
        assert "only one a person approved does" not in note
        assert f"no {verdict} verdict ever starts this runbook" in note
        assert f"not even one a person approved (sent at {CANARY_CONFIRMED:g} or" in note
    # within what an approved verdict carries, the note stands as it was
    (note,) = _notes(tmp_path, "promote", CANARY_CONFIRMED)
    assert f"only one a person approved does (it is sent at {CANARY_CONFIRMED:g}" in note
