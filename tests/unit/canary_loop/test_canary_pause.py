"""`autonomic pause` holds the canary verdicts that would move a release: the Flagger
webhook and the Argo Rollouts web metric answer with a hold, a verdict routed auto is
not sent to the runbooks, and each hold is recorded (reason code ``Paused``, the
person's sentence, the answer held) for `why` and `explain`. Resumed, they answer and
hand on the verdict again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.cli.explain_cmd import render
from agent.ledger import Ledger, open_ledger
from agent.loops.canary import CanaryLoop
from agent.pause import active_pause, pause, resume
from agent.server import Request
from tests.unit.canary_loop.test_canary_loop import CANARY, rig, run_until_final

REASON = "a bad release is being rolled out by hand"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def _paused_by_the_ledger(loop: CanaryLoop, ledger: Ledger) -> None:
    def paused() -> str | None:
        held = active_pause(ledger, loop.clock.now())
        return held.describe() if held is not None else None

    loop.paused = paused


def _flagger(loop: CanaryLoop, kind: str | None = None, phase: str = "Progressing") -> Any:
    body: dict[str, Any] = {"name": CANARY.name, "namespace": "shop", "phase": phase}
    if kind is not None:
        body["metadata"] = {"type": kind}
    response = loop.flagger(Request("POST", "/canary/flagger", {}, {}, json.dumps(body).encode()))
    return response.status, json.loads(response.body)


def _argo(loop: CanaryLoop) -> dict[str, Any]:
    response = loop.argo(
        Request("GET", "/canary/verdict", {"namespace": ["shop"], "canary": [CANARY.name]}, {}, b"")
    )
    assert response.status == 200
    body: dict[str, Any] = json.loads(response.body)
    return body


def _holds(ledger: Ledger) -> list[Any]:
    return [d for d in ledger.decisions(kind="canary") if d.decision_type == "held/canary"]


def test_a_rollback_verdict_is_held_at_both_endpoints_while_paused(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop, _, clock, _ = rig(ledger, canary_slowdown=1.5)
    _paused_by_the_ledger(loop, ledger)
    run_until_final(loop, clock)
    assert _flagger(loop)[0] == 409 and _argo(loop)["verdict"] == "rollback"
    (verdict,) = [
        d for d in ledger.decisions(kind="canary") if d.decision_type.startswith("canary")
    ]
    pause(ledger, by="alice", reason=REASON, now=clock.now())
    # Flagger: a plain check passes (any non-2xx counts toward its rollback), a rollback
    # webhook gets no 2xx, the gates wait; Argo: inconclusive, which pauses the rollout.
    status, body = _flagger(loop)
    assert status == 200 and body["verdict"] == "inconclusive"
    assert body["would_answer"] == "rollback" and "paused by alice" in body["paused"]
    assert _flagger(loop, "rollback")[0] == 412
    assert _flagger(loop, "confirm-promotion")[0] == 425
    assert _flagger(loop, "confirm-traffic-increase")[0] == 425
    argo = _argo(loop)
    assert argo["verdict"] == "inconclusive" and argo["would_answer"] == "rollback"
    assert argo["judge_verdict"] == "rollback" and argo["decision_id"] == verdict.id
    # one hold of the rollback recorded, by the first to ask; not again for the others
    (hold,) = _holds(ledger)
    assert (hold.reason_code, hold.status, hold.subject) == ("Paused", "escalated", str(CANARY))
    assert hold.evidence["asked_by"] == "Flagger's rollout webhook"
    assert hold.evidence["verdict_decision"] == verdict.id
    assert hold.evidence["would_answer"] == {"answer": "409 (rollback)", "verdict": "rollback"}
    assert hold.evidence["answered"] == "200 (inconclusive)"
    assert "paused by alice at" in hold.reason and REASON in hold.reason
    # `why` lists them, `explain` tells one
    capsys.readouterr()
    assert main(["why", str(CANARY), "--ledger", str(tmp_path / "l.sqlite")]) == 0
    assert "held/canary" in capsys.readouterr().out
    story = render(ledger, hold.id)
    assert "Paused" in story and REASON in story
    assert "it would have been answered 409 (rollback), from decision" in story
    # resumed: the verdict is answered again, and nothing more is recorded
    resume(ledger, by="bob", now=clock.now())
    assert _flagger(loop)[0] == 409 and _argo(loop)["verdict"] == "rollback"
    assert len(_holds(ledger)) == 1
    # paused again, the Argo metric asks first: a new pause, a new record
    clock.advance(60)
    pause(ledger, by="carol", reason="again", now=clock.now())
    assert _argo(loop)["verdict"] == "inconclusive"
    assert _flagger(loop)[0] == 200
    argo_hold = next(h for h in _holds(ledger) if h.id != hold.id)
    assert argo_hold.evidence["asked_by"] == "Argo Rollouts' web metric"
    assert argo_hold.evidence["answered"] == "verdict inconclusive"
    assert "kubectl argo rollouts promote" in argo_hold.reason
    assert len(_holds(ledger)) == 2


def test_a_verdict_made_while_paused_is_not_handed_on_until_the_pause_ends(
    ledger: Ledger,
) -> None:
    loop, signals, clock, _ = rig(ledger, canary_slowdown=1.5)
    _paused_by_the_ledger(loop, ledger)
    run_until_final(loop, clock, minutes=2)
    assert _argo(loop)["verdict"] == "continue"  # still judging
    pause(ledger, by="alice", reason=REASON, now=clock.now())
    # still judging: "continue" would let Argo's steps go on; held, it pauses the rollout
    argo = _argo(loop)
    assert argo["verdict"] == "inconclusive" and argo["would_answer"] == "continue"
    run_until_final(loop, clock)
    (verdict,) = [
        d for d in ledger.decisions(kind="canary") if d.decision_type.startswith("canary")
    ]
    assert verdict.proposal["verdict"] == "rollback" and verdict.route == "auto"
    assert signals == []  # the canary-rollback runbook was not asked to act
    record = ledger.get_decision(verdict.id)
    assert record is not None and record.status == "approved"  # waits, approved
    assert any(
        h.evidence.get("would") == "rollback through the canary-rollback runbook"
        for h in _holds(ledger)
    )
    resume(ledger, by="bob", now=clock.now())
    run_until_final(loop, clock, minutes=1)
    (signal,) = signals
    assert signal.name == "rollback" and signal.target == CANARY
    assert signal.evidence["verdict_decision"] == verdict.id
    assert signal.confidence == pytest.approx(verdict.confidence)  # the judge's, not a person's
    record = ledger.get_decision(verdict.id)
    assert record is not None and record.status == "done"
    run_until_final(loop, clock, minutes=2)
    assert len(signals) == 1  # sent once


def test_two_endpoint_calls_at_once_record_one_hold(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook server answers on several threads: Flagger's webhook and Argo's metric
    asking at the same moment, while paused, record the hold once, not twice (two
    escalations of one hold)."""
    import contextlib
    import threading

    loop, _, clock, _ = rig(ledger, canary_slowdown=1.5)
    _paused_by_the_ledger(loop, ledger)
    run_until_final(loop, clock)
    pause(ledger, by="alice", reason=REASON, now=clock.now())
    both_looked = threading.Barrier(2)
    real = ledger.latest_for_incident

    def latest_for_incident(key: str) -> Any:
        found = real(key)
        # the other call looks too before either records (the race); with one call
        # held back until the other has recorded, nobody comes: go on after a second
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looked.wait(timeout=1.0)
        return found

    monkeypatch.setattr(ledger, "latest_for_incident", latest_for_incident)
    answers: list[Any] = []
    threads = [
        threading.Thread(target=lambda: answers.append(_flagger(loop))),
        threading.Thread(target=lambda: answers.append(_argo(loop))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(answers) == 2
    assert len(_holds(ledger)) == 1
