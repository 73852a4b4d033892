"""An approver group's membership changes while its list is cached: someone added to the
on-call group (a rotation's hand-over) may answer at once, and a group Slack says no
longer exists admits nobody, whatever its last list said."""

from __future__ import annotations

from tests.integration.slack.conftest import Rig


def test_someone_added_to_an_approver_group_may_answer_before_the_cache_runs_out(
    rig: Rig,
) -> None:
    approvers = rig.receiver.approvers
    approvers.refresh(rig.clock())  # the periodic refresh: S0ONCALL is U0BOB, U0CAROL
    question_id = rig.approvals.ask(rig.decision(), rig.clock()).question_id
    # The rotation hands over: U0DAVE joins the on-call group a minute later.
    rig.slack.groups["S0ONCALL"] = ["U0CAROL", "U0DAVE"]
    rig.clock.advance(60.0)
    assert rig.click(question_id, "approve", user="U0DAVE")[0] == 200
    rig.drain()
    question = rig.question(question_id)
    assert (question.status, question.answered_by) == ("approved", "U0DAVE")
    assert rig.slack.ephemerals == []


def test_a_non_member_is_not_looked_up_again_at_each_click(rig: Rig) -> None:
    approvers = rig.receiver.approvers
    approvers.refresh(rig.clock())
    question_id = rig.approvals.ask(rig.decision(), rig.clock()).question_id
    lookups = len(rig.slack.calls_to("usergroups.users.list"))
    rig.clock.advance(60.0)
    for second in range(3):  # a stranger clicking again and again
        rig.click(question_id, "approve", user="U0MALLORY", action_ts=rig.clock() + second)
    rig.drain()
    assert rig.question(question_id).status == "pending"
    # One fresh look (the list was a minute old), then the new list is trusted.
    assert len(rig.slack.calls_to("usergroups.users.list")) == lookups + 1


def test_a_group_slack_says_no_longer_exists_admits_nobody_from_its_old_list(
    rig: Rig,
) -> None:
    approvers = rig.receiver.approvers
    approvers.refresh(rig.clock())  # U0BOB is in S0ONCALL
    question_id = rig.approvals.ask(rig.decision(), rig.clock()).question_id
    del rig.slack.groups["S0ONCALL"]  # the group is deleted: no_such_subteam
    rig.clock.advance(240.0)
    approvers.refresh(rig.clock())  # the next periodic refresh hears it
    rig.clock.advance(10.0)
    assert rig.click(question_id, "approve", user="U0BOB")[0] == 200
    rig.drain()
    assert rig.question(question_id).status == "pending"
    assert "no_such_subteam" in rig.slack.ephemerals[-1]["text"]
    # Past the cache's 5 minutes too: the hour-old list is not trusted for a deleted group.
    rig.clock.advance(400.0)
    rig.click(question_id, "approve", user="U0BOB", action_ts=rig.clock() + 1)
    rig.drain()
    assert rig.question(question_id).status == "pending"
