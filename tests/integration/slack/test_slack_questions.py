"""A question's life in Slack, over the wire: post, answer, update, thread, snooze, expire."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

from tests.integration.slack.conftest import CHANNEL, NOW, SNOOZE, TTL, Rig


def _blocks_of(kind: str, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == kind]


def _text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_a_question_is_posted_with_the_proposal_evidence_and_buttons(rig: Rig) -> None:
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())

    assert asked.posted
    [call] = rig.slack.calls_to("chat.postMessage")
    assert call.authorized and call.params["channel"] == CHANNEL
    [message] = rig.slack.top_level()
    assert asked.message_ref == f"slack:{message.channel}:{message.ts}"
    assert rig.question(asked.question_id).message_ref == asked.message_ref
    assert rig.question(asked.question_id).expires_at == NOW + TTL

    header = _blocks_of("header", message.blocks)[0]["text"]["text"]
    assert "rollback" in header and "Deployment/shop/web" in header
    text = _text(message.blocks)
    assert "82.0%" in text  # the confidence
    assert "3 of 3 pods crash-loop" in text  # the reason sentence
    assert "kube_pod_container_status_restarts_total" in text  # the query
    assert "pods_crashlooping: 3" in text  # a key number
    assert "<http://alertmanager.monitoring:9093/#/alerts?receiver=autonomic|" in text
    [actions] = _blocks_of("actions", message.blocks)
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert set(buttons) == {"autonomic_approve", "autonomic_reject", "autonomic_snooze"}
    assert {b["value"] for b in buttons.values()} == {asked.question_id}
    assert "confirm" in buttons["autonomic_approve"]
    assert "Approval needed" in message.text  # the notification fallback text


def test_approve_records_once_updates_the_message_and_threads_progress(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.clock.advance(42)

    status, _ = rig.click(asked.question_id, "approve")
    assert status == 200
    question = rig.question(asked.question_id)
    assert (question.status, question.answered_by) == ("approved", "U0ALICE")
    assert question.answered_at == NOW + 42

    rig.drain()
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]
    assert rig.answers.threads == ["autonomic-approvals"]  # not the request thread
    [update] = rig.slack.calls_to("chat.update")
    [message] = rig.slack.top_level()
    assert (update.params["channel"], update.params["ts"]) == (message.channel, message.ts)
    assert not _blocks_of("actions", message.blocks)  # buttons gone
    assert "*Approved* by <@U0ALICE>" in _text(message.blocks)
    assert "Executing next" in _text(message.blocks)

    rig.approvals.progress(asked.question_id, "Executing: rollback of Deployment/shop/web to 4")
    rig.approvals.progress(asked.question_id, "Verified: 0 restarts in 5 min")
    rig.approvals.settle(asked.question_id, "Done: rolled back and verified.")
    replies = rig.slack.replies(message.channel, message.ts)
    assert [r.text for r in replies] == [
        "Executing: rollback of Deployment/shop/web to 4",
        "Verified: 0 restarts in 5 min",
    ]
    final = rig.slack.message(message.channel, message.ts)
    assert "Done: rolled back and verified." in _text(final.blocks)
    assert len(final.history) == 2  # the answer, then the final word
    answers = [f for f in rig.ledger.feedback_for(question.decision_id) if f["kind"] == "answer"]
    assert [(f["outcome"], f["actor"]) for f in answers] == [("approved", "U0ALICE")]


def test_reject_records_a_no_and_nothing_runs(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    status, _ = rig.click(asked.question_id, "reject")
    assert status == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "rejected"
    assert rig.answers.calls == [(asked.question_id, "rejected", "U0ALICE")]
    [message] = rig.slack.top_level()
    assert "*Rejected* by <@U0ALICE>" in _text(message.blocks)
    assert "Nothing will be done" in _text(message.blocks)
    assert not _blocks_of("actions", message.blocks)


def test_snooze_extends_the_expiry_and_keeps_the_question_open(rig: Rig) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    snoozed_at = rig.clock.advance(600)
    status, _ = rig.click(asked.question_id, "snooze", user="U0BOB")
    assert status == 200
    rig.drain()
    question = rig.question(asked.question_id)
    assert question.status == "pending"
    assert question.expires_at == NOW + TTL + SNOOZE  # extended by the snooze
    assert rig.answers.calls == []  # a snooze is not a decision
    [message] = rig.slack.top_level()
    assert _blocks_of("actions", message.blocks)  # still answerable
    assert "*Snoozed* by <@U0BOB>" in _text(message.blocks)

    # Slack retrying the same click does not snooze it further.
    rig.clock.advance(2)
    assert rig.click(asked.question_id, "snooze", user="U0BOB", action_ts=snoozed_at)[0] == 200
    assert rig.question(asked.question_id).expires_at == NOW + TTL + SNOOZE

    # Past the original TTL the question is still open, and can be approved.
    rig.clock.now = NOW + TTL + SNOOZE - 60
    assert rig.approvals.expire_due(rig.clock()) == []
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "approved"
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]


def test_expiry_is_a_no_that_escalates_to_the_oncall_group(rig: Rig) -> None:
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(TTL - 1)
    assert rig.approvals.expire_due(rig.clock()) == []
    rig.clock.advance(1)

    [expiry] = rig.approvals.expire_due(rig.clock())
    rig.drain()
    assert expiry.question.id == asked.question_id
    assert rig.question(asked.question_id).status == "expired"
    assert rig.answers.calls == [(asked.question_id, "expired", "timeout")]
    question_message = rig.slack.message(*asked.message_ref.split(":")[1:])
    assert not _blocks_of("actions", question_message.blocks)
    assert "*Expired* unanswered" in _text(question_message.blocks)
    escalations = [m for m in rig.slack.top_level() if "<!subteam^S0ONCALL>" in m.text]
    assert len(escalations) == 1
    assert expiry.escalation_ref == f"slack:{escalations[0].channel}:{escalations[0].ts}"
    assert "Deployment/shop/web" in escalations[0].text
    kinds = [f["kind"] for f in rig.ledger.feedback_for(decision_id)]
    assert kinds == ["escalation", "expiry"]

    # Expired means no: a late click changes nothing and tells the clicker why. The
    # on-call's judgment is kept as the decision's verdict (once) so the type learns.
    rig.clock.advance(5)
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "expired"
    assert rig.answers.calls == [(asked.question_id, "expired", "timeout")]
    assert "expired" in rig.slack.ephemerals[-1]["text"]
    assert "kept as feedback" in rig.slack.ephemerals[-1]["text"]
    assert rig.click(asked.question_id, "reject", "U0BOB")[0] == 200
    rig.drain()
    assert "already kept" in rig.slack.ephemerals[-1]["text"]
    thread = rig.slack.replies(*asked.message_ref.split(":")[1:])
    assert [m.text for m in thread if "after the question expired" in m.text] == [
        "U0ALICE answered approved after the question expired: nothing was done; "
        "the answer is kept for learning."
    ]
    feedback = rig.ledger.feedback_for(decision_id)
    assert [(f["kind"], f["outcome"]) for f in feedback] == [
        ("escalation", "escalated"),
        ("expiry", "expired"),
        ("late-answer", "approved"),
        ("verdict", "right"),
    ]
    # A second expiry run finds nothing new to escalate.
    assert rig.approvals.expire_due(rig.clock()) == []


def test_a_late_click_on_a_decision_that_takes_no_verdict_says_it_teaches_nothing(
    rig: Rig,
) -> None:
    """A scheduled floor's question clicked after it expired: the answer is kept (as
    none), and both the clicker and the thread are told it teaches nothing and why, not
    that it teaches the next decision."""
    why = "the floor was set by scheduled floor monday-open, a person's instruction"
    decision_id = rig.decision(evidence={"no_verdict": why})
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(TTL)
    assert len(rig.approvals.expire_due(rig.clock())) == 1
    rig.drain()
    rig.clock.advance(5)
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.drain()
    told = rig.slack.ephemerals[-1]["text"]
    assert "kept as feedback, but it teaches nothing, since this decision takes no verdict" in (
        told
    )
    assert why in told and "teaches the next decision" not in told
    thread = rig.slack.replies(*asked.message_ref.split(":")[1:])
    assert [m.text for m in thread if "after the question expired" in m.text] == [
        "U0ALICE answered approved after the question expired: nothing was done; the answer "
        f"is kept, but it teaches nothing, since this decision takes no verdict ({why})."
    ]
    kept = {f["kind"]: f["outcome"] for f in rig.ledger.feedback_for(decision_id)}
    assert kept["late-answer"] == "approved" and kept["verdict"] == "none"


def test_a_question_past_its_expiry_cannot_be_approved_before_the_expiry_job_runs(
    rig: Rig,
) -> None:
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    rig.clock.advance(TTL + 1)
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "pending"
    assert rig.answers.calls == []
    assert [e.question.id for e in rig.approvals.expire_due(rig.clock())] == [asked.question_id]


def test_a_member_of_an_approver_group_may_answer_and_membership_is_cached(rig: Rig) -> None:
    first = rig.approvals.ask(rig.decision(), rig.clock())
    second = rig.approvals.ask(rig.decision(subject="Deployment/shop/cart"), rig.clock())
    assert rig.click(first.question_id, "approve", user="U0BOB")[0] == 200
    rig.clock.advance(30)
    assert rig.click(second.question_id, "reject", user="U0CAROL")[0] == 200
    assert rig.question(first.question_id).status == "approved"
    assert rig.question(second.question_id).status == "rejected"
    assert len(rig.slack.calls_to("usergroups.users.list")) == 1
    assert rig.slack.calls_to("usergroups.users.list")[0].params["usergroup"] == "S0ONCALL"


def test_the_click_is_acknowledged_while_the_decision_layer_is_still_busy(rig: Rig) -> None:
    """Slack's 3-second limit: the response does not wait for ``on_answer``."""
    release, entered = threading.Event(), threading.Event()

    def slow_hook(question_id: str, answer: str, actor: str) -> None:
        entered.set()
        release.wait(10)
        rig.answers(question_id, answer, actor)

    rig.approvals.on_answer = slow_hook
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    try:
        status, _ = rig.click(asked.question_id, "approve")  # returns while the hook blocks
        assert status == 200
        assert rig.question(asked.question_id).status == "approved"  # CAS came first
        assert entered.wait(10)
        assert rig.answers.calls == []
    finally:
        release.set()
    rig.drain()
    assert rig.answers.calls == [(asked.question_id, "approved", "U0ALICE")]


def test_an_answer_from_the_cli_rewrites_the_message_at_the_daemons_next_sync(rig: Rig) -> None:
    """The CLI is another process with no chat client: it records and applies the answer
    in the ledger; the daemon's next sync rewrites the Slack message and counts the
    answer in its metrics, once."""
    from agent.approvals import Approvals, LedgerOnlyChannel
    from agent.clock import FakeClock
    from agent.decisions import DecisionService
    from agent.observability import Metrics
    from agent.settings import RoutingSettings

    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(90)

    cli = Approvals(rig.ledger, LedgerOnlyChannel(rig.ledger, rig.clock), ttl=TTL, snooze=SNOOZE)
    in_cli = DecisionService(
        rig.ledger,
        FakeClock(rig.clock()),
        RoutingSettings(),
        mode="act",
        approvals=cli,
        metrics=Metrics(),
    )
    assert in_cli.answer(asked.question_id, "approved", "cli:bob", "looked at the logs")
    cli.close()
    record = rig.ledger.get_decision(decision_id)
    assert record is not None and record.status == "approved"  # applied by the CLI
    assert rig.slack.calls_to("chat.update") == []  # but the message still has its buttons

    metrics = Metrics()
    daemon = DecisionService(
        rig.ledger,
        FakeClock(rig.clock()),
        RoutingSettings(),
        mode="act",
        approvals=rig.approvals,
        metrics=metrics,
    )
    assert daemon.sync_answers() == 0  # nothing left to apply...
    rig.drain()
    [update] = rig.slack.calls_to("chat.update")  # ...but the message is rewritten
    [message] = rig.slack.top_level()
    assert (update.params["channel"], update.params["ts"]) == (message.channel, message.ts)
    assert not _blocks_of("actions", message.blocks)
    assert "cli:bob" in _text(message.blocks) and "Executing next" in _text(message.blocks)
    assert metrics.registry.get_sample_value("autonomic_answer_seconds_sum") == 90.0  # counted

    daemon.sync_answers()
    rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1  # once
    assert metrics.registry.get_sample_value("autonomic_answer_seconds_sum") == 90.0


def test_a_question_asked_and_answered_in_the_ledger_is_not_restated(rig: Rig) -> None:
    """A question asked without a chat (the ledger-only channel) has no message to
    rewrite: a CLI answer to it leaves the chat alone, and is still counted, once, in the
    daemon's metrics (the CLI's own metrics die with its process)."""
    from agent.approvals import Approvals, LedgerOnlyChannel
    from agent.clock import FakeClock
    from agent.decisions import DecisionService
    from agent.observability import Metrics
    from agent.settings import RoutingSettings

    cli = Approvals(rig.ledger, LedgerOnlyChannel(rig.ledger, rig.clock), ttl=TTL, snooze=SNOOZE)
    asked = cli.ask(rig.decision(), rig.clock())
    in_cli = DecisionService(
        rig.ledger, FakeClock(rig.clock()), RoutingSettings(), mode="act", approvals=cli,
        metrics=Metrics(),
    )  # fmt: skip
    assert in_cli.answer(asked.question_id, "rejected", "cli:bob", "not now")
    cli.close()
    metrics = Metrics()
    daemon = DecisionService(
        rig.ledger, FakeClock(rig.clock()), RoutingSettings(), mode="act",
        approvals=rig.approvals, metrics=metrics,
    )  # fmt: skip
    for _ in range(2):
        daemon.sync_answers()
        rig.drain()
        assert rig.slack.calls_to("chat.update") == []
        assert rig.slack.calls_to("chat.postMessage") == []
        assert metrics.registry.get_sample_value("autonomic_answer_seconds_count") == 1.0
        corrections = metrics.registry.get_sample_value(
            "autonomic_human_corrections_total", {"decision_type": "rollback-crashloop/Deployment"}
        )
        assert corrections == 1.0


def test_an_action_taken_without_asking_is_reported_and_its_progress_threads_under_it(
    rig: Rig,
) -> None:
    """Act and report: the automatic route posts the same context a question shows,
    without buttons, and the remediation's progress follows in that message's thread."""
    decision_id = rig.decision(route="auto")
    ref = rig.approvals.report(decision_id, "confidence 97% is at or above 95%", rig.clock())
    [message] = rig.slack.top_level()
    assert ref == f"slack:{message.channel}:{message.ts}"
    assert message.text.startswith("Done automatically:") and "82.0%" in message.text
    assert not _blocks_of("actions", message.blocks)  # nothing to answer
    text = _text(message.blocks)
    assert "kube_pod_container_status_restarts_total" in text  # the evidence
    assert f"autonomic feedback {decision_id} --wrong" in text  # how to say it was wrong
    assert rig.approvals.progress_for(decision_id, "executing: rollback to revision 4")
    assert rig.approvals.progress_for(decision_id, "verified: 0 restarts in 5 min", final=True)
    replies = rig.slack.replies(message.channel, message.ts)
    assert [r.text for r in replies] == [
        "executing: rollback to revision 4",
        "verified: 0 restarts in 5 min",
    ]
    [row] = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "report"]
    assert row["detail"]["ref"] == ref
    # a decision that was neither asked nor reported has nowhere to post
    assert not rig.approvals.progress_for(rig.decision(route="auto"), "executing")


def test_a_report_slack_cannot_take_falls_back_to_the_log_and_the_action_goes_on(
    rig: Rig,
) -> None:
    rig.slack.fail_next("chat.postMessage", 500, times=5)
    decision_id = rig.decision(route="auto")
    ref = rig.approvals.report(decision_id, "confident", rig.clock())
    assert ref == f"ledger:{decision_id}"  # the daemon's log; the ledger remembers it
    assert rig.approvals.progress_for(decision_id, "executing: rollback")
    assert rig.slack.top_level() == []


def test_a_question_can_be_snoozed_three_times_then_it_must_be_answered(rig: Rig) -> None:
    from agent.approvals import MAX_SNOOZES
    from agent.settings import SlackSettings

    asked = rig.approvals.ask(rig.decision(), rig.clock())
    for i in range(MAX_SNOOZES):
        rig.clock.advance(60)
        outcome = rig.approvals.answer(
            asked.question_id, "snoozed", "U0BOB", rig.clock(), click_id=f"U0BOB:{i}"
        )
        assert outcome.accepted, outcome.message
    extended = rig.question(asked.question_id).expires_at
    assert extended == NOW + TTL + MAX_SNOOZES * SNOOZE
    rig.clock.advance(60)
    refused = rig.approvals.answer(
        asked.question_id, "snoozed", "U0BOB", rig.clock(), click_id="U0BOB:again"
    )
    assert (refused.accepted, refused.code) == (False, "SnoozeLimit")
    assert "approve or reject" in refused.message
    assert rig.question(asked.question_id).expires_at == extended  # not pushed out again
    assert rig.approvals.answer(asked.question_id, "approved", "U0ALICE", rig.clock()).accepted
    # how long a snooze lasts is a setting (it was fixed at one hour)
    assert SlackSettings.model_validate({"snooze": "20m"}).snooze == 1200.0


def test_a_question_settled_without_its_answer_says_so_and_a_later_click_changes_nothing(
    rig: Rig,
) -> None:
    """A canary verdict's question, open when the delivery tool settled the rollout on
    its own: closed as superseded, its message rewritten without buttons ("No longer
    needed", and why), not escalated when its TTL runs out; a later click is told it is
    already settled, and nothing is recorded as an answer."""
    from agent.clock import FakeClock
    from agent.decisions import DecisionService
    from agent.observability import Metrics
    from agent.settings import RoutingSettings

    decision_id = rig.decision(
        kind="canary",
        decision_type="canary/rollback",
        subject="Deployment/shop/web-canary",
        proposal={"verdict": "rollback", "baseline": "Deployment/shop/web", "revision": 2},
    )
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(120)
    decisions = DecisionService(
        rig.ledger,
        FakeClock(rig.clock()),
        RoutingSettings(),
        mode="act",
        approvals=rig.approvals,
        metrics=Metrics(),
    )
    why = "Deployment/shop/web-canary is now at revision 3 (web:5), not the revision 2"
    assert decisions.supersede(decision_id, why)
    assert not decisions.supersede(decision_id, why)  # once
    record = rig.ledger.get_decision(decision_id)
    assert record is not None and record.status == "superseded"
    message = rig.slack.message(*asked.message_ref.split(":")[1:])
    assert not _blocks_of("actions", message.blocks)  # buttons gone
    text = _text(message.blocks)
    assert f"*No longer needed* <!date^{int(NOW + 120)}^" in text and why in text
    assert "No longer needed: " in _blocks_of("header", message.blocks)[0]["text"]["text"]
    assert "an answer now changes nothing" in text

    rig.clock.advance(60)
    assert rig.click(asked.question_id, "approve")[0] == 200
    rig.drain()
    assert rig.question(asked.question_id).status == "superseded"
    assert rig.answers.calls == []  # no answer reached the decision layer
    assert "already settled" in rig.slack.ephemerals[-1]["text"]
    assert why in rig.slack.ephemerals[-1]["text"]
    rig.clock.advance(TTL)
    assert rig.approvals.expire_due(rig.clock()) == []  # nothing escalated
    assert not [m for m in rig.slack.top_level() if "<!subteam^S0ONCALL>" in m.text]
    feedback = rig.ledger.feedback_for(decision_id)
    assert [(f["kind"], f["outcome"], f["actor"]) for f in feedback] == [
        ("superseded", "superseded", "autonomic")
    ]


def test_an_automatic_action_that_takes_no_verdict_does_not_offer_feedback_that_teaches(
    rig: Rig,
) -> None:
    """The report of a scheduled floor done automatically: ``autonomic feedback --wrong``
    is refused on it (it takes no verdict), so the report says so instead of offering it."""
    from agent.adapters.slack_blocks import report_blocks

    why = "the floor was set by scheduled floor monday-open, a person's instruction"
    plain = rig.ledger.get_decision(rig.decision())
    floor = rig.ledger.get_decision(rig.decision(evidence={"no_verdict": why}))
    assert plain is not None and floor is not None
    said = json.dumps(report_blocks(plain, "confident enough"))
    assert f"`autonomic feedback {plain.id} --wrong` teaches the next decision" in said
    said = json.dumps(report_blocks(floor, "confident enough"))
    assert "autonomic feedback" not in said and "teaches the next decision" not in said
    assert f"it takes no verdict ({why}): its outcome teaches nothing" in said


def _restarted(rig: Rig) -> Any:
    """The decision layer of a process started over the ledger (``rig.approvals`` has
    set nothing off for the answers already in it)."""
    from agent.clock import FakeClock
    from agent.decisions import DecisionService
    from agent.observability import Metrics
    from agent.settings import RoutingSettings

    return DecisionService(
        rig.ledger, FakeClock(rig.clock()), RoutingSettings(), mode="act",
        approvals=rig.approvals, metrics=Metrics(),
    )  # fmt: skip


def test_a_click_whose_process_died_before_its_rewrite_is_shown_after_the_restart(
    rig: Rig,
) -> None:
    """A crash between a click's compare-and-set and its follow-ups on the worker (the
    message's rewrite, ``on_answer``): the next process applies the answer at its sync
    and rewrites the message. Before, the answer was applied and the message kept its
    buttons and "Approval needed" for good (a rejection or an expiry: nothing rewrites
    it later; benchmarks/answer_crash.py)."""
    from agent.ledger import Feedback

    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    # What the click left in the ledger: the answer and its record, one write.
    detail = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "rejected", "U0ALICE", detail)
    assert rig.ledger.answer(
        asked.question_id, "rejected", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    daemon = _restarted(rig)
    assert daemon.sync_answers() == 1
    rig.drain()
    record_now = rig.ledger.get_decision(decision_id)
    assert record_now is not None and record_now.status == "rejected"
    [update] = rig.slack.calls_to("chat.update")
    [message] = rig.slack.top_level()
    assert (update.params["channel"], update.params["ts"]) == (message.channel, message.ts)
    assert not _blocks_of("actions", message.blocks)
    assert "Rejected" in _text(message.blocks) and "Nothing will be done" in _text(message.blocks)
    daemon.sync_answers()
    rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1  # once


def test_an_expiry_whose_process_died_before_its_rewrite_is_shown_after_the_restart(
    rig: Rig,
) -> None:
    from agent.ledger import Feedback

    decision_id = rig.decision()
    rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(TTL + 30)
    [due] = rig.ledger.due_questions(rig.clock())
    record = Feedback(decision_id, "expiry", "expired", "timeout", {"question_id": due.id})
    assert rig.ledger.expire_question(due, rig.clock(), feedback=[record]) is not None
    assert _restarted(rig).sync_answers() == 1
    rig.drain()
    [message] = rig.slack.top_level()
    assert not _blocks_of("actions", message.blocks)
    assert "Expired unanswered" in _text(message.blocks)


def test_a_click_followed_up_in_this_process_is_not_rewritten_again_at_the_sync(
    rig: Rig,
) -> None:
    """The sync may find a click's answer before the worker applied it (the hook still
    queued): the worker rewrites that message, the sync does not do it a second time."""
    daemon = _restarted(rig)
    release = threading.Event()
    rig.approvals.dispatcher.submit(lambda: release.wait(10))  # the worker is busy
    asked = rig.approvals.ask(rig.decision(), rig.clock())
    try:
        payload_status = rig.click(asked.question_id, "approve")[0]
        assert payload_status == 200
        assert daemon.sync_answers() == 1  # applied here, before the hook ran
    finally:
        release.set()
    rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1


def test_a_no_applied_by_a_process_that_died_before_its_rewrite_is_shown_at_the_next_start(
    rig: Rig,
) -> None:
    """The answer was applied to its decision (by the process that recorded it, or by
    the sync of the one after), and that process died before the message's rewrite,
    which runs after, in memory: the next process's first sync rewrites it, once.
    Before, it kept its buttons for good (benchmarks/answer_crash.py)."""
    from agent.ledger import Feedback

    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    detail = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "rejected", "U0ALICE", detail)
    assert rig.ledger.answer(
        asked.question_id, "rejected", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    assert rig.ledger.transition(decision_id, ["asked"], "rejected", rig.clock())
    daemon = _restarted(rig)
    for _ in range(2):
        assert daemon.sync_answers() == 0
        rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1
    [message] = rig.slack.top_level()
    assert not _blocks_of("actions", message.blocks)
    assert "Rejected" in _text(message.blocks)
    # A start long after leaves old messages alone.
    rig.clock.advance(7200)
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1


def test_a_verified_action_whose_final_word_a_crash_cut_off_is_shown_at_the_next_start(
    rig: Rig,
) -> None:
    """The action verified and its decision says so, and the daemon died before the
    message's final rewrite: the next daemon's first sync rewrites it with the same
    words, from the verification's row. Before, it said "Executing next" for good."""
    from agent.ledger import Feedback

    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    detail = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "approved", "U0ALICE", detail)
    assert rig.ledger.answer(
        asked.question_id, "approved", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    assert rig.ledger.transition(decision_id, ["asked"], "approved", rig.clock())
    rig.clock.advance(300)
    found = {"reason_code": "Healthy", "message": "3 of 3 pods ready for 5 min"}
    verdict = Feedback(decision_id, "verification", "right", "autonomic", found)
    assert rig.ledger.settle(decision_id, ["approved"], "verified", rig.clock(), verdict)[0]
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    [message] = rig.slack.top_level()
    assert not _blocks_of("actions", message.blocks)
    assert "verified: 3 of 3 pods ready for 5 min" in _text(message.blocks)
    assert "Executing next" not in _text(message.blocks)


def test_a_restated_approval_does_not_overwrite_the_final_word_of_an_action_that_ended(
    rig: Rig,
) -> None:
    """The sync applies an approval another process recorded and did not follow up, and
    queues the message's rewrite ("Executing next") on the approvals worker; the action
    runs on the cycle's thread and its final word rewrites the message at once. With the
    worker behind (Slack slow, a start's rewrites queued), the restatement ran last and
    the message said "Executing next" for an action that had failed."""
    from agent.ledger import Feedback

    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    detail = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "approved", "U0ALICE", detail)
    assert rig.ledger.answer(
        asked.question_id, "approved", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    daemon = _restarted(rig)
    release = threading.Event()
    rig.approvals.dispatcher.submit(lambda: release.wait(10))  # the worker is behind
    try:
        assert daemon.sync_answers() == 1
        # The engine runs the action; it fails, and its final word is written at once.
        assert rig.ledger.transition(decision_id, ["approved"], "failed", rig.clock())
        daemon.progress(decision_id, "failed: the deployment is gone", final=True)
    finally:
        release.set()
    rig.drain()
    [message] = rig.slack.top_level()
    assert "failed: the deployment is gone" in _text(message.blocks)
    assert "Executing next" not in _text(message.blocks)


def test_a_starts_rewrites_of_the_last_hours_messages_are_paced_behind_new_answers(
    rig: Rig,
) -> None:
    """A process's first sync rewrites again every "no" and expiry of the last hour that
    it did not follow up itself: at every restart, most of them already rewritten. Slack
    takes about 50 chat.update a minute (Tier 3): they go out ``restate_interval`` apart,
    and a click meanwhile is not queued behind them. Before, they all went out at once on
    the approvals worker, which a 429 holds for its Retry-After, clicks' rewrites and
    replies waiting behind."""
    from agent.ledger import Feedback

    for n in range(4):
        decision_id = rig.decision()
        asked = rig.approvals.ask(decision_id, rig.clock())
        detail = {"question_id": asked.question_id, "via": "slack", "click_id": f"U0ALICE@{n}"}
        record = Feedback(decision_id, "answer", "rejected", "U0ALICE", detail)
        assert rig.ledger.answer(
            asked.question_id, "rejected", "U0ALICE", rig.clock(), None, feedback=[record]
        )
        assert rig.ledger.transition(decision_id, ["asked"], "rejected", rig.clock())
    fresh = rig.approvals.ask(rig.decision(), rig.clock())
    rig.approvals.restate_interval = 0.3
    daemon = _restarted(rig)
    assert daemon.sync_answers() == 0
    assert rig.click(fresh.question_id, "approve")[0] == 200
    assert rig.approvals.dispatcher.drain(10.0)
    fresh_ref = rig.question(fresh.question_id).message_ref
    updates = rig.slack.calls_to("chat.update")
    # The click's rewrite went out second, after the first restatement only.
    assert fresh_ref is not None and fresh_ref.endswith(updates[1].params["ts"]), fresh_ref
    deadline = time.monotonic() + 5.0
    while len(rig.slack.calls_to("chat.update")) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    restated = [c for c in rig.slack.calls_to("chat.update") if c is not updates[1]]
    assert len(restated) == 4
    gaps = [b.at - a.at for a, b in itertools.pairwise(restated)]
    assert min(gaps) >= 0.25, gaps


def _approved_then(rig: Rig, status: str, row: Any) -> str:
    """A question approved, its decision run and closed ``status`` with ``row`` (the
    ledger's record of how it ended), and no rewrite after: the daemon died first."""
    from agent.ledger import Feedback

    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    detail = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "approved", "U0ALICE", detail)
    assert rig.ledger.answer(
        asked.question_id, "approved", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    assert rig.ledger.transition(decision_id, ["asked"], "approved", rig.clock())
    rig.clock.advance(300)
    assert rig.ledger.transition(
        decision_id, ["approved"], status, rig.clock(), feedback=[row(decision_id)]
    )
    return decision_id


def test_a_failed_actions_final_word_a_crash_cut_off_is_shown_at_the_next_start(
    rig: Rig,
) -> None:
    """An approved action closed without a write (failed, superseded, not executed): its
    final word is the closing's ``why``, written with the status. Before, only a verified
    action's final word was restated, and this message said "Executing next" for good."""
    from agent.ledger import Feedback

    why = "not executed: the Deployment is gone; nothing was written to the cluster"
    _approved_then(
        rig, "failed", lambda d: Feedback(d, "execution", "failed", "autonomic", {"why": why})
    )
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    [message] = rig.slack.top_level()
    assert why in _text(message.blocks)
    assert "Executing next" not in _text(message.blocks)


def test_an_undone_actions_final_word_a_crash_cut_off_is_shown_at_the_next_start(
    rig: Rig,
) -> None:
    """A run that failed and was undone: its final word is kept with its verdict
    (``said``), the sentence the engine wrote on the message."""
    from agent.ledger import Feedback

    said = "Degraded: 0 of 3 pods ready; undone (step 1 undone)"
    detail = {"why": "Degraded: 0 of 3 pods ready", "undone": ["step 1 undone"], "said": said}
    _approved_then(
        rig, "undone", lambda d: Feedback(d, "verification", "wrong", "autonomic", detail)
    )
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    [message] = rig.slack.top_level()
    assert said in _text(message.blocks)
    assert "Executing next" not in _text(message.blocks)


def test_a_starts_rewrite_of_a_deleted_message_does_not_post_the_news_again(
    rig: Rig,
) -> None:
    """A start's rewrites are of messages most likely shown already: one Slack no
    longer has (deleted, ``message_not_found``) had its news posted in the channel by
    the process that rewrote it first. Before, every restart within the hour posted
    "its message was deleted" in the channel again."""
    from agent.ledger import Feedback

    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    detail = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "rejected", "U0ALICE", detail)
    assert rig.ledger.answer(
        asked.question_id, "rejected", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    assert rig.ledger.transition(decision_id, ["asked"], "rejected", rig.clock())
    rig.slack.fail_next("chat.update", 200, error="message_not_found")
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1
    assert len(rig.slack.top_level()) == 1  # the question's own message, nothing more


def test_a_no_a_deposed_leader_applied_and_died_before_showing_is_shown_when_leading_again(
    rig: Rig,
) -> None:
    """Only the leader syncs. A replica that led before, and leads again after another
    leader died between applying a "no" and rewriting its message, rewrites it at the
    first sync of its new term (``new_term``, from the engine's recovery), as a process
    does at its first sync. Before, only a process's very first sync did: a replica
    leading for the second time left the message with its buttons."""
    from agent.ledger import Feedback

    daemon = _restarted(rig)
    assert daemon.sync_answers() == 0  # led once; then another replica led
    decision_id = rig.decision()
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    detail = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "rejected", "U0ALICE", detail)
    assert rig.ledger.answer(
        asked.question_id, "rejected", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    assert rig.ledger.transition(decision_id, ["asked"], "rejected", rig.clock())
    daemon.clock.advance(60)
    daemon.new_term()
    assert daemon.sync_answers() == 0
    rig.drain()
    [message] = rig.slack.top_level()
    assert not _blocks_of("actions", message.blocks)
    assert "Rejected" in _text(message.blocks)


def test_a_deposed_leader_stops_its_starts_paced_rewrites(rig: Rig) -> None:
    """A start's (or a term's) rewrites of the last hour's messages go out one per
    ``restate_interval``: minutes of them after a busy hour. A replica that stops leading
    meanwhile leaves them to the new leader, whose own first sync makes the same ones:
    before, the deposed replica went on sending them, and the two together took about
    twice what Slack allows of chat.update, the new leader's rewrites of new answers
    refused (429) behind them."""
    from types import SimpleNamespace
    from typing import cast

    from agent.daemon import Daemon
    from agent.ledger import Feedback
    from agent.settings import Settings
    from tests.harness.gates import SwitchGate

    for n in range(4):
        decision_id = rig.decision()
        asked = rig.approvals.ask(decision_id, rig.clock())
        detail = {"question_id": asked.question_id, "via": "slack", "click_id": f"U0ALICE@{n}"}
        record = Feedback(decision_id, "answer", "rejected", "U0ALICE", detail)
        assert rig.ledger.answer(
            asked.question_id, "rejected", "U0ALICE", rig.clock(), None, feedback=[record]
        )
        assert rig.ledger.transition(decision_id, ["asked"], "rejected", rig.clock())
    rig.approvals.restate_interval = 0.2
    decisions = _restarted(rig)
    part = cast(Any, SimpleNamespace(recover=dict))
    gate = SwitchGate(leader=True)
    daemon = Daemon(
        Settings(), decisions.clock, rig.ledger, decisions.metrics, decisions, part, part,
        cast(Any, gate), part,
    )  # fmt: skip
    assert daemon.leading()
    assert decisions.sync_answers() == 0
    deadline = time.monotonic() + 5.0
    while not rig.slack.calls_to("chat.update") and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.leader = False
    assert not daemon.leading()  # the next job finds it no longer leads
    time.sleep(0.7)  # past three restate_intervals: the rest would have gone out by now
    assert rig.approvals.dispatcher.drain(10.0)
    assert len(rig.slack.calls_to("chat.update")) == 1
    # Leading again (the engine's recovery begins the term), it makes the ones it dropped.
    gate.leader = True
    assert daemon.leading()
    decisions.new_term()
    assert decisions.sync_answers() == 0
    deadline = time.monotonic() + 5.0
    while len(rig.slack.calls_to("chat.update")) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(rig.slack.calls_to("chat.update")) == 4


def test_a_scaling_approvals_closing_a_crash_cut_off_is_shown_at_the_next_start(
    rig: Rig,
) -> None:
    """An approved floor the scaling loop closed without writing it (its HPA gone, taken
    over, the workload out of scaling): its why is written with the closing, as a
    remediation's is. Before, only a remediation's final word was restated, and a
    crash between the closing and the message's rewrite left this one saying
    "Executing next" for good, though the ledger held what to say."""
    from agent.ledger import Feedback

    why = "not carried out (NoHpa): the HPA is gone; nothing was written"
    detail = {"reason": "NoHpa", "why": why}
    decision_id = rig.decision(kind="scaling", decision_type="predictive-floor/Deployment")
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    answer = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "approved", "U0ALICE", answer)
    assert rig.ledger.answer(
        asked.question_id, "approved", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    assert rig.ledger.transition(decision_id, ["asked"], "approved", rig.clock())
    rig.clock.advance(300)
    row = Feedback(decision_id, "execution", "failed", "autonomic", detail)
    assert rig.ledger.transition(decision_id, ["approved"], "failed", rig.clock(), feedback=[row])
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    [message] = rig.slack.top_level()
    assert why in _text(message.blocks)
    assert "Executing next" not in _text(message.blocks)


def test_a_judged_floors_final_word_a_crash_cut_off_is_shown_at_the_next_start(
    rig: Rig,
) -> None:
    """An approved floor written, then judged (its lead time and five minutes on, here
    over an hour after the answer): the scaling loop keeps the message's final word with
    the verdict (``said``), and the next process's first sync restates it, once. Before,
    a written floor's final word was not kept, and a crash between the verdict and the
    message's rewrite left it saying "Executing next" for good."""
    from agent.ledger import Feedback

    said = "unneeded: the load peaked at 3 pods' worth; the raise from 3 to 7 was not needed"
    decision_id = rig.decision(kind="scaling", decision_type="predictive-floor/Deployment")
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    answer = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "approved", "U0ALICE", answer)
    assert rig.ledger.answer(
        asked.question_id, "approved", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    assert rig.ledger.transition(decision_id, ["asked"], "approved", rig.clock())
    assert rig.ledger.transition(decision_id, ["approved"], "verifying", rig.clock())
    rig.clock.advance(65 * 60)  # a lead time of an hour: judged past the answer's hour
    detail = {"why": said.removeprefix("unneeded: "), "said": said}
    verdict = Feedback(decision_id, "verification", "unneeded", "autonomic", detail)
    assert rig.ledger.settle(decision_id, ["verifying"], "done", rig.clock(), verdict)[0]
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    [message] = rig.slack.top_level()
    assert not _blocks_of("actions", message.blocks)
    assert said in _text(message.blocks)
    assert "Executing next" not in _text(message.blocks)
    assert len(rig.slack.calls_to("chat.update")) == 1
    assert not rig.slack.calls_to("chat.postMessage")[1:]  # said on the message, not again
    # A start more than an hour after the word leaves it alone.
    rig.clock.advance(3601)
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1


def test_a_refused_floors_final_word_is_restated_as_the_message_said_it(rig: Rig) -> None:
    """A floor write the cluster refused: the message said "failed: WHY", kept with the
    closing (``said``). Before, the next start restated the closing's why alone."""
    from agent.ledger import Feedback

    why = "minReplicas 3 to 7 not written (Forbidden): forbidden; no new try for 5 min"
    detail = {"reason": "Forbidden", "why": why, "said": f"failed: {why}"}
    decision_id = rig.decision(kind="scaling", decision_type="predictive-floor/Deployment")
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    answer = {"question_id": asked.question_id, "via": "slack", "click_id": "U0ALICE@1.0"}
    record = Feedback(decision_id, "answer", "approved", "U0ALICE", answer)
    assert rig.ledger.answer(
        asked.question_id, "approved", "U0ALICE", rig.clock(), None, feedback=[record]
    )
    assert rig.ledger.transition(decision_id, ["asked"], "approved", rig.clock())
    row = Feedback(decision_id, "execution", "failed", "autonomic", detail)
    assert rig.ledger.transition(decision_id, ["approved"], "failed", rig.clock(), feedback=[row])
    assert _restarted(rig).sync_answers() == 0
    rig.drain()
    [message] = rig.slack.top_level()
    assert f"failed: {why}" in _text(message.blocks)


def test_a_question_closed_as_no_longer_needed_a_crash_cut_off_is_shown_at_the_next_start(
    rig: Rig,
) -> None:
    """A question closed unanswered because what it asked about was settled without it
    (a canary rolled out again, a scheduled floor due): the closing is in the ledger and
    the process died before the message's rewrite, which comes just after. The next
    process's first sync rewrites it ("No longer needed", no buttons), once. Before, the
    sync passed over such questions, and the message kept its buttons for good."""
    decision_id = rig.decision(kind="scaling", decision_type="predictive-floor/Deployment")
    asked = rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    [question] = rig.ledger.questions_for([decision_id])
    why = "a scheduled floor of 9 falls due"
    assert rig.ledger.supersede_question(question, why, rig.clock()) is not None
    assert asked.question_id == question.id
    daemon = _restarted(rig)
    for _ in range(2):
        assert daemon.sync_answers() == 0
        rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1
    [message] = rig.slack.top_level()
    assert not _blocks_of("actions", message.blocks)
    assert "No longer needed" in _text(message.blocks)


def test_a_question_this_process_closed_as_no_longer_needed_is_not_restated(rig: Rig) -> None:
    """The process that closed a question rewrote its message then: its own first sync
    of a term does not rewrite it again."""
    daemon = _restarted(rig)
    decision_id = rig.decision(kind="canary", decision_type="canary/Deployment")
    rig.approvals.ask(decision_id, rig.clock())
    rig.clock.advance(60)
    assert daemon.supersede(decision_id, "the canary was rolled out again", reason="CanaryMovedOn")
    rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1
    assert daemon.sync_answers() == 0
    rig.drain()
    assert len(rig.slack.calls_to("chat.update")) == 1
