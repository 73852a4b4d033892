"""Who may answer depends on what is asked: a runbook's ``spec.approvers`` and
``slack.approversByNamespace`` narrow ``slack.approvers``, over the wire (signed clicks
to the interactivity handler, the Web API stand-in for groups and replies)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.adapters.slack import RetryPolicy, build_approvals
from agent.clock import FakeClock
from agent.decisions import DecisionService, Proposal
from agent.ledger import Ledger
from agent.observability import Metrics
from agent.settings import RoutingSettings, load_settings
from tests.fakeslack import FakeSlack, InteractionServer
from tests.integration.slack.conftest import (
    ENVIRON,
    SNOOZE,
    Answers,
    Clock,
    Rig,
    slack_settings,
)

PAYMENTS = "S0PAY"  # the payments SREs: U0CAROL (also on call) and U0DAVE (not)


def _rig(slack: FakeSlack, ledger: Ledger, clock: Clock, **settings: object) -> Rig:
    slack.groups[PAYMENTS] = ["U0CAROL", "U0DAVE"]
    answers = Answers()
    sleeps: list[float] = []
    approvals, receiver = build_approvals(
        slack_settings(slack.url + "/api/", **settings),
        ENVIRON,
        ledger,
        clock=clock,
        on_answer=answers,
        snooze=SNOOZE,
        policy=RetryPolicy(attempts=1),
        sleep=sleeps.append,
    )
    assert receiver is not None
    interactions = InteractionServer(receiver.handle_interaction, clock)
    return Rig(slack, ledger, approvals, receiver, answers, clock, sleeps, interactions)


@pytest.fixture
def narrowed(slack: FakeSlack, ledger: Ledger, clock: Clock) -> Iterator[Rig]:
    rig = _rig(slack, ledger, clock, approversByNamespace={"payments": ["U0ALICE"]})
    yield rig
    rig.interactions.stop()
    rig.approvals.close()


def _ask(rig: Rig, subject: str, runbook_approvers: list[str] | None = None) -> tuple[str, str]:
    """A remediation decision routed to ask by the decision layer, as a runbook's is:
    (decision id, question id)."""
    evidence: dict[str, object] = {"restarts": [0, 3, 9]}
    if runbook_approvers:
        evidence["runbook_approvers"] = {"runbook": "rollback-payments", "ids": runbook_approvers}
    service = DecisionService(
        rig.ledger,
        FakeClock(rig.clock()),
        RoutingSettings(),
        mode="act",
        approvals=rig.approvals,
        metrics=Metrics(),
    )
    routed = service.decide(
        Proposal(
            kind="remediation",
            decision_type="rollback-payments/Deployment",
            subject=subject,
            proposal={"op": "rollback", "to_revision": 4},
            signal_confidence=0.8,
            reason_code="CrashLoopAfterRollout",
            reason="3 of 3 pods crash-loop since revision 5 rolled out",
            evidence=evidence,
            model_version="runbook rollback-payments@1",
            forced_approval="the runbook asks in payments",
        )
    )
    assert routed.route == "ask" and routed.question_id is not None
    return routed.decision_id, routed.question_id


def _answers_and_refusals(rig: Rig, decision_id: str) -> list[tuple[str, str, str]]:
    return [
        (row["kind"], row["outcome"], row["actor"])
        for row in rig.ledger.feedback_for(decision_id)
        if row["kind"] in ("answer", "refusal")
    ]


def test_a_global_approver_outside_the_runbooks_list_is_refused_and_nothing_is_recorded(
    rig: Rig,
) -> None:
    rig.slack.groups[PAYMENTS] = ["U0CAROL", "U0DAVE"]
    decision_id, question_id = _ask(rig, "Deployment/shop/web", [PAYMENTS])
    # U0BOB is on call (S0ONCALL, in slack.approvers) but not a payments SRE.
    for action in ("approve", "reject", "snooze"):
        assert rig.click(question_id, action, user="U0BOB")[0] == 200
    rig.drain()
    question = rig.question(question_id)
    assert (question.status, question.answered_by, question.expires_at) == (
        "pending",
        None,
        rig.clock() + 900.0,
    )
    assert rig.slack.calls_to("chat.update") == []
    record = rig.ledger.get_decision(decision_id)
    assert record is not None and record.status == "asked"
    assert _answers_and_refusals(rig, decision_id) == [("refusal", "refused", "U0BOB")] * 3
    reply = rig.slack.ephemerals[0]
    assert reply["user"] == "U0BOB"
    assert "not a configured approver in runbook rollback-payments" in reply["text"]
    assert "<!subteam^S0PAY> (runbook rollback-payments)" in reply["text"]  # who may

    # U0DAVE is a payments SRE but not in slack.approvers: the runbook cannot widen it.
    rig.click(question_id, "approve", user="U0DAVE")
    rig.drain()
    assert rig.question(question_id).status == "pending"
    assert "not a configured approver in slack.approvers" in rig.slack.ephemerals[-1]["text"]

    # U0CAROL is in both: accepted, once.
    assert rig.click(question_id, "approve", user="U0CAROL", action_ts=rig.clock() + 1)[0] == 200
    assert rig.click(question_id, "approve", user="U0CAROL", action_ts=rig.clock() + 2)[0] == 200
    rig.drain()
    question = rig.question(question_id)
    assert (question.status, question.answered_by) == ("approved", "U0CAROL")
    record = rig.ledger.get_decision(decision_id)
    assert record is not None and record.status == "approved"  # carried into the decision
    assert [a for a in _answers_and_refusals(rig, decision_id) if a[0] == "answer"] == [
        ("answer", "approved", "U0CAROL")
    ]


def test_the_question_and_the_record_name_who_may_answer(rig: Rig) -> None:
    rig.slack.groups[PAYMENTS] = ["U0CAROL"]
    decision_id, _ = _ask(rig, "Deployment/shop/web", [PAYMENTS])
    record = rig.ledger.get_decision(decision_id)
    assert record is not None
    assert record.evidence["approvers"] == [
        {"source": "slack.approvers", "ids": ["U0ALICE", "S0ONCALL"]},
        {"source": "runbook rollback-payments", "ids": [PAYMENTS]},
    ]
    [message] = rig.slack.top_level()
    text = json.dumps(message.blocks)
    assert (
        "Approvers: <!subteam^S0PAY> (runbook rollback-payments), who must also be in "
        "slack.approvers"
    ) in text
    assert "S0ONCALL" not in text  # the global list is not paged by a question
    assert "runbook_approvers" not in text  # shown once, as who may answer

    from agent.cli.explain_cmd import render

    assert (
        "  approvers  someone in U0ALICE, S0ONCALL (slack.approvers) who is also in "
        "S0PAY (runbook rollback-payments)"
    ) in render(rig.ledger, decision_id).splitlines()


def test_a_namespace_list_narrows_decisions_about_objects_in_that_namespace(
    narrowed: Rig,
) -> None:
    rig = narrowed
    in_payments, question = _ask(rig, "Deployment/payments/api")
    rig.click(question, "approve", user="U0BOB")  # on call, but not for payments
    rig.drain()
    assert rig.question(question).status == "pending"
    assert _answers_and_refusals(rig, in_payments) == [("refusal", "refused", "U0BOB")]
    assert "namespace payments" in rig.slack.ephemerals[-1]["text"]
    rig.click(question, "approve", user="U0ALICE")
    assert rig.question(question).answered_by == "U0ALICE"

    # Elsewhere, and on a node (no namespace), slack.approvers alone decides.
    for subject in ("Deployment/shop/web", "Node/worker-1"):
        _, other = _ask(rig, subject)
        rig.click(other, "approve", user="U0BOB")
        assert rig.question(other).answered_by == "U0BOB", subject


def test_a_bad_namespace_list_is_a_clear_configuration_error(tmp_path: Path) -> None:
    from agent.errors import ConfigError

    path = tmp_path / "config.yaml"
    path.write_text(
        "slack:\n  approversByNamespace:\n    payments: ['@sre-payments']\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = str(caught.value)
    assert (
        f"{path}:3: slack.approversByNamespace.payments[0]: expected a Slack user id (U… or "
        "W…) or user group id (S…), not a name or @handle (got '@sre-payments')"
    ) in message
    path.write_text("slack:\n  approversByNamespace:\n    shop: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert (
        f"{path}:3: slack.approversByNamespace: namespace shop lists nobody, so no question "
        "about an object in it could be answered"
    ) in str(caught.value)
