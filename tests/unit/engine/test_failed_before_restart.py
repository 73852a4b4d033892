"""A run closed ``failed`` by a step the cluster refused for a reason that is not the
runbook's (RBAC, the API away): the process dies after the execution's status and
before the decision's verdict. The restart's recovery must settle it as the uncrashed
path would have, inconclusive, not as a wrong outcome that tightens the thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.executor import StepOutcome
from tests.unit.engine.harness import WEB, Rig, latency_anomaly, restarted, runbook_rig


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process."""


def _refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reason: str) -> Rig:
    """A runbook acting alone whose first write the cluster refuses with ``reason``."""
    r = runbook_rig(tmp_path)

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        return StepOutcome("failed", f"the API server said {reason}", reason=reason)

    monkeypatch.setattr(r.executor, "apply", apply)
    return r


def _killed_before_the_verdict(r: Rig, monkeypatch: pytest.MonkeyPatch) -> str:
    """Handle a latency anomaly; the process dies as the failure's verdict is recorded,
    after its execution was closed. Returns the decision's id."""

    def record_outcome(*args: Any, **kwargs: Any) -> None:
        raise _Killed

    monkeypatch.setattr(r.decisions, "record_outcome", record_outcome)
    with pytest.raises(_Killed):
        latency_anomaly(r, WEB, run=60)
    ((execution,),) = [r.ledger.executions(["failed"])]
    record = r.ledger.get_decision(execution["decision_id"])
    assert record is not None and record.status == "executing"
    return record.id


def _verdicts(r: Rig, decision: str) -> list[str]:
    return [f["outcome"] for f in r.ledger.feedback_for(decision) if f["kind"] == "verification"]


@pytest.mark.parametrize(
    ("reason", "verdict", "counted"),
    [("Forbidden", "inconclusive", []), ("Invalid", "wrong", ["wrong"])],
)
def test_a_failure_cut_off_by_a_crash_is_settled_as_it_was_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reason: str, verdict: str, counted: list[str]
) -> None:
    r = _refused(tmp_path, monkeypatch, reason)
    decision = _killed_before_the_verdict(r, monkeypatch)
    monkeypatch.undo()
    r = restarted(r)
    r.engine.recover()
    record = r.ledger.get_decision(decision)
    assert record is not None and record.status == "failed"
    assert _verdicts(r, decision) == [verdict]  # one verdict, as the uncrashed run gives
    record_type = record.decision_type
    assert [v for _, _, v, _ in r.ledger.outcomes(record_type)] == counted
    r.engine.recover()  # settled once
    assert _verdicts(r, decision) == [verdict]


def test_an_uncrashed_refusal_is_inconclusive_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path the crash cut short, whole: the same verdict, once."""
    r = _refused(tmp_path, monkeypatch, "Forbidden")
    latency_anomaly(r, WEB, run=60)
    ((execution,),) = [r.ledger.executions(["escalated"])]
    assert _verdicts(r, execution["decision_id"]) == ["inconclusive"]


def test_a_failed_runs_final_word_is_kept_with_its_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sentence that rewrites the question's message when a run fails (``said``) is
    in its verdict's row, so that a daemon started after a crash that fell before the
    rewrite can show it (``DecisionService._final_word``); before, only a verified
    run's word was in the ledger."""
    r = _refused(tmp_path, monkeypatch, "Invalid")
    finals: list[tuple[str, str]] = []
    progress = r.decisions.progress

    def recorded(decision_id: str, text: str, *, final: bool = False, **kwargs: Any) -> None:
        if final:
            finals.append((decision_id, text))
        progress(decision_id, text, final=final, **kwargs)

    monkeypatch.setattr(r.decisions, "progress", recorded)
    latency_anomaly(r, WEB, run=60)
    ((execution,),) = [r.ledger.executions(["escalated"])]
    decision = execution["decision_id"]
    said = [
        f["detail"].get("said")
        for f in r.ledger.feedback_for(decision)
        if f["kind"] == "verification"
    ]
    assert finals and said and set(said) == {finals[-1][1]}, (finals, said)
    assert finals[-1][0] == decision


def test_each_recovery_starts_a_term_for_the_decisions_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's recovery (a start, each new leadership term) tells the decision
    layer (``DecisionService.new_term``): its next sync rewrites the messages another
    leader may have died before rewriting."""
    r = runbook_rig(tmp_path)
    terms: list[bool] = []
    monkeypatch.setattr(r.decisions, "new_term", lambda: terms.append(True), raising=False)
    r.engine.recover()
    r.engine.recover()
    assert terms == [True, True]
