"""``autonomic why --runbook NAME`` for a runbook that was only ever asked about: its
decisions went to a person, who rejected one and let another expire, so nothing ran and
nothing was held back. Before, the answer was "Nothing held back by NAME." and then "No
runbook named NAME in this ledger", as for a typo, and its decisions were listed only
when a SUBJECT was given. Now they are listed, each with its status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.ledger import Decision, DecisionRecord, HeldBack
from tests.unit.engine.harness import WEB, rig, web
from tests.unit.engine.test_held_back import CRASHLOOP, _cycles, _why


def asked_as(record: DecisionRecord) -> Decision:
    """A decision like ``record``, to be asked about."""
    return Decision(
        kind=record.kind,
        decision_type=record.decision_type,
        subject=record.subject,
        proposal=record.proposal,
        confidence=record.confidence,
        reason_code=record.reason_code,
        reason=record.reason,
        evidence=record.evidence,
        model_version=record.model_version,
        route="ask",
        status="asked",
    )


def test_why_lists_a_runbook_only_ever_asked_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(tmp_path, auto=0.99)  # every decision goes to a person
    r.sim.add_workload(web(bad_images={"shop/web:2"}))
    r.sim.roll_out(WEB, "shop/web:2")
    _cycles(r, 3)
    (asked,) = r.ledger.decisions(kind="remediation", status=["asked"])
    assert asked.decision_type == f"{CRASHLOOP}/Deployment"
    (question,) = r.ledger.questions()
    assert r.decisions.answer(question.id, "rejected", "alice")
    assert r.ledger.executions(["running", "verifying", "succeeded", "failed"]) == []
    # something held back by another runbook: the ledger knows a runbook name
    r.ledger.record_held_back(
        [
            HeldBack(
                runbook="restart-stuck-pods",
                subject="Deployment/shop/cart",
                reason_code="Cooldown",
                outcome="denied",
                message="in its cooldown",
                signal="a pod stuck",
                first_seen=r.clock.now(),
                last_seen=r.clock.now(),
                times=1,
            )
        ]
    )

    # two more of its decisions, on other workloads: one left to expire, one still waiting
    later = []
    for name, status in (("cart", "expired"), ("shop", "asked")):
        r.clock.advance(60)
        made, _ = r.ledger.record_question(
            replace(asked_as(asked), subject=f"Deployment/shop/{name}"),
            r.clock.now(),
            channel="cli",
            ttl=900,
        )
        if status == "expired":
            assert r.ledger.transition(made, ["asked"], "expired", r.clock.now())
        later.append(made)

    code, out, _ = _why(tmp_path, capsys, "--runbook", CRASHLOOP)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"Nothing held back by {CRASHLOOP}."
    assert "No runbook named" not in out  # before: "No runbook named ... it knows restart-..."
    assert lines[-4] == "Decided (autonomic explain ID tells the story):"
    kind = f"{CRASHLOOP}/Deployment"
    assert [(line[2:14], line.split("  ")[-2:]) for line in lines[-3:]] == [
        (later[1][:12], [kind, "ask -> asked"]),
        (later[0][:12], [kind, "ask -> expired"]),
        (asked.id[:12], [kind, "ask -> rejected"]),
    ]
    code, out, _ = _why(tmp_path, capsys, "--runbook", "restart-stuck-pods")
    assert "Decided" not in out  # another runbook's decisions are not its
    # a typo is still told, with the runbook only asked about among those it knows
    code, out, _ = _why(tmp_path, capsys, "--runbook", "crashloop")
    assert out.splitlines()[-1] == (
        "No runbook named crashloop in this ledger (held back, run or asked about): it knows "
        f"{CRASHLOOP}, restart-stuck-pods."
    )
