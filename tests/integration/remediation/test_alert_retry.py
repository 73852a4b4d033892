"""A firing alert whose first handling made no decision because something that passes
held it back (a guard's denial, a precondition false or without data) is taken in again
while it fires, every ``REASK_RETRY``, until a decision is made
(``RemediationEngine._requeue_held_alerts``).

A firing alert is taken in from the inbox once per start; Alertmanager's re-sends only
move its last delivery on. Before, an alert held back at its one handling (Prometheus
down for a minute, a cooldown with ten minutes left, a pause lifted soon after) was never
looked at again while it fired, for hours, whereas a pod condition is seen at every
cycle. ``hpa-maxed-out-raise`` (always asked about) on a KubeHpaMaxedOut alert through
the webhook, the real engine and adapter against the fake API server, on a fake clock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent.ledger import DecisionRecord
from agent.pause import pause, resume
from agent.remediation_engine import REASK_RETRY, REQUEUES_PER_CYCLE
from remediation.guards import ActionRecord, GlobalLimits, GuardState
from remediation.ports import ObjectRef
from tests.integration.remediation.rig import RUNBOOKS, KubeRig, build_rig
from tests.integration.remediation.test_alert_gone import alert
from tests.integration.remediation.test_alert_reask import _firing
from tests.integration.remediation.test_hpa_ceiling import RUNBOOK, UNSCHEDULABLE, hpa_status, seed

WEB = ObjectRef("Deployment", "web", "shop")
TTL = 3600.0  # the rig's question TTL
QUIET = 3600.0  # GlobalLimits.reask_after (hpa-maxed-out-raise's cooldown is 1h too)


def _decisions(rig: KubeRig) -> list[DecisionRecord]:
    return sorted(rig.decisions_of(RUNBOOK), key=lambda d: d.created_at)


def _fires(rig: KubeRig) -> float:
    """The alert is posted firing (from 15 minutes ago) and a cycle takes it in: its
    startsAt."""
    starts = rig.clock.now() - 900
    assert rig.post_alerts([alert(rig, "firing", starts)]) == 200
    rig.cycle()
    return starts


def _handlings(rig: KubeRig, since: int = 0) -> list[str]:
    """The reason codes of the runbook's outcomes since ``since`` (an index in handled)."""
    return [h.reason_code for h in rig.handled[since:] if h.runbook == RUNBOOK]


def _decided_once(rig: KubeRig, blocker_gone: float, starts: float) -> DecisionRecord:
    """One question, made within a retry (and a cycle) of the blocker going, and nothing
    more taken in for the next half hour of firing."""
    (decision,) = _decisions(rig)
    assert decision.status == "asked"
    assert blocker_gone <= decision.created_at <= blocker_gone + REASK_RETRY + 60
    handled = len(rig.handled)
    _firing(rig, starts, 1800)
    assert _handlings(rig, handled) == []
    assert [d.id for d in _decisions(rig)] == [decision.id]
    return decision


def _held_back(rig: KubeRig) -> list[tuple[str, int]]:
    """What `autonomic why` keeps for the runbook on shop/web: (reason, times)."""
    return [
        (row.reason_code, row.times)
        for row in rig.ledger.held_back(runbook=RUNBOOK, subject="Deployment/shop/web")
    ]


def test_a_precondition_false_at_first_is_tried_again_while_the_alert_fires(
    rig: KubeRig,
) -> None:
    seed(rig)
    rig.promql.set(UNSCHEDULABLE, 2.0)  # two pods wait for room: no raise yet
    starts = _fires(rig)
    assert _handlings(rig) == ["PreconditionFailed"]
    _firing(rig, starts, 180)
    assert _handlings(rig) == ["PreconditionFailed"]  # not at every cycle
    rig.promql.set(UNSCHEDULABLE, 0.0)  # the pods found room three minutes later
    gone = rig.clock.now()
    _firing(rig, starts, REASK_RETRY)
    _decided_once(rig, gone, starts)
    # `why` kept the one denial, not a row per retry.
    assert [reason for reason, _ in _held_back(rig)] == ["PreconditionFailed"]


def test_no_data_while_prometheus_is_down_is_tried_again_every_few_minutes(
    rig: KubeRig,
) -> None:
    seed(rig)
    rig.promql.set(UNSCHEDULABLE, None)  # Prometheus down: no data
    starts = _fires(rig)
    _firing(rig, starts, 2 * REASK_RETRY + 120)
    # Taken in at first, then once per REASK_RETRY: three times in 12 minutes, not 12.
    assert _handlings(rig) == ["NoData"] * 3
    assert _decisions(rig) == []
    rig.promql.set(UNSCHEDULABLE, 0.0)
    gone = rig.clock.now()
    _firing(rig, starts, REASK_RETRY + 60)
    _decided_once(rig, gone, starts)
    ((reason, times),) = _held_back(rig)
    assert reason == "NoData" and times >= 1


def _acted_on_web(rig: KubeRig, ago: float) -> None:
    """A raise of shop/web's ceiling was made ``ago`` seconds before now."""
    record = ActionRecord(RUNBOOK, WEB, rig.clock.now() - ago)

    def add(state: GuardState) -> GuardState:
        return replace(state, actions=(*state.actions, record))

    rig.engine._update_guards(add)


def test_a_cooldown_that_ends_while_the_alert_fires_lets_it_be_decided(rig: KubeRig) -> None:
    seed(rig)
    _acted_on_web(rig, 3600 - 600)  # the hour of cooldown ends in ten minutes
    starts = _fires(rig)
    assert _handlings(rig) == ["Cooldown"]
    ends = rig.clock.now() + 600
    _firing(rig, starts, 240)
    assert _decisions(rig) == [] and _handlings(rig) == ["Cooldown"]  # not at every cycle
    _firing(rig, starts, ends - rig.clock.now() + REASK_RETRY + 60)
    _decided_once(rig, ends, starts)


def test_an_alert_denied_by_a_pause_is_decided_once_the_pause_is_lifted(rig: KubeRig) -> None:
    seed(rig)
    pause(rig.ledger, by="alice", reason="upgrading the nodes", now=rig.clock.now())
    starts = _fires(rig)
    assert _handlings(rig) == ["Paused"]
    _firing(rig, starts, 1800)
    assert _decisions(rig) == []
    assert len(_handlings(rig)) <= 1 + 1800 / REASK_RETRY  # once per retry, at most
    assert resume(rig.ledger, by="alice", now=rig.clock.now()) is not None
    gone = rig.clock.now()
    _firing(rig, starts, REASK_RETRY + 60)
    _decided_once(rig, gone, starts)


def test_an_alert_resolved_while_held_back_is_not_tried_again(rig: KubeRig) -> None:
    seed(rig)
    rig.promql.set(UNSCHEDULABLE, 2.0)
    starts = _fires(rig)
    _firing(rig, starts, 120)
    assert rig.post_alerts([alert(rig, "resolved", starts, rig.clock.now())], "resolved") == 200
    rig.promql.set(UNSCHEDULABLE, 0.0)
    rig.run(3600, step=60)
    assert _decisions(rig) == [] and _handlings(rig) == ["PreconditionFailed"]


def test_an_alert_whose_ends_at_passed_while_held_back_is_not_tried_again(
    rig: KubeRig,
) -> None:
    seed(rig)
    rig.promql.set(UNSCHEDULABLE, 2.0)
    starts = rig.clock.now() - 900
    ends = rig.clock.now() + 120
    assert rig.post_alerts([alert(rig, "firing", starts, ends)]) == 200
    rig.cycle()
    rig.promql.set(UNSCHEDULABLE, 0.0)
    rig.run(3600, step=60)
    assert _decisions(rig) == [] and _handlings(rig) == ["PreconditionFailed"]


def test_a_skip_of_the_plan_itself_is_not_tried_again(rig: KubeRig) -> None:
    # The HPA does not run at its ceiling (the alert is stale): planning finds nothing to
    # do. What would change that is the object, which a new start of the alert reports:
    # the firing alert is not taken in again for it.
    seed(rig)
    hpa_status(rig, 2)
    starts = _fires(rig)
    assert _handlings(rig) == ["NotMaxedOut"]
    _firing(rig, starts, 3600)
    assert _handlings(rig) == ["NotMaxedOut"] and _decisions(rig) == []


def _two_alerts(rig: KubeRig) -> tuple[DecisionRecord, float]:
    """Two alerts about shop/web's HPA (two kube-state-metrics replicas: two
    fingerprints): the first is asked about, the second is a duplicate of that open
    decision. The first's decision and the alerts' startsAt."""
    seed(rig)
    starts = _fires(rig)
    (first,) = _decisions(rig)
    assert (
        rig.post_alerts([alert(rig, "firing", starts, fingerprint="c0f2", instance="ksm-1")]) == 200
    )
    rig.cycle()
    assert _handlings(rig)[-1] == "OpenDecision"
    return first, starts


def _sending(rig: KubeRig, alerts: list[dict[str, object]], seconds: float) -> None:
    """``seconds`` of cycles a minute apart, Alertmanager sending ``alerts`` every 5."""
    end = rig.clock.now() + seconds
    while rig.clock.now() < end:
        rig.clock.advance(60)
        if rig.clock.now() % 300 < 60:
            assert rig.post_alerts(alerts) == 200
        rig.cycle()


def test_a_duplicate_of_a_decision_closed_with_nothing_done_is_decided_after_its_quiet(
    rig: KubeRig,
) -> None:
    first, starts = _two_alerts(rig)
    second = alert(rig, "firing", starts, fingerprint="c0f2", instance="ksm-1")
    # The first alert's question expires unanswered; then that alert resolves.
    _sending(rig, [alert(rig, "firing", starts), second], TTL + 120)
    record = rig.ledger.get_decision(first.id)
    assert record is not None and record.status == "expired"
    closed = record.updated_at
    assert rig.post_alerts([alert(rig, "resolved", starts, rig.clock.now())], "resolved") == 200
    # The second, a duplicate of it, is not decided during its quiet period...
    _sending(rig, [second], closed + QUIET - 60 - rig.clock.now())
    assert [d.id for d in _decisions(rig)] == [first.id]
    # ...and is, once, within a retry of its end.
    _sending(rig, [second], REASK_RETRY + 120)
    decisions = _decisions(rig)
    assert [d.id for d in decisions][:1] == [first.id] and len(decisions) == 2
    assert decisions[1].status == "asked"
    assert closed + QUIET <= decisions[1].created_at <= closed + QUIET + REASK_RETRY + 60
    assert decisions[1].evidence["signal"]["fingerprint"] == "c0f2"
    handled = len(rig.handled)
    _sending(rig, [second], 1800)
    assert _handlings(rig, handled) == []


def test_a_duplicate_of_a_rejected_decision_is_not_asked_again_through_it(
    rig: KubeRig,
) -> None:
    first, starts = _two_alerts(rig)
    assert rig.decisions.answer(rig.ledger.questions()[0].id, "rejected", "alice")
    rig.cycle()
    second = [alert(rig, "firing", starts, fingerprint="c0f2", instance="ksm-1")]
    end = rig.clock.now() + 2 * 3600
    while rig.clock.now() < end:
        rig.clock.advance(300)
        assert rig.post_alerts([alert(rig, "firing", starts), *second]) == 200
        rig.cycle()
    assert [d.id for d in _decisions(rig)] == [first.id]  # the "no" holds for a day


def test_a_cycle_takes_in_again_a_bounded_number_of_held_back_alerts(tmp_path: Path) -> None:
    # The storm guard off: 25 alerts at once would be one storm (and not retried).
    rig = build_rig(tmp_path, limits=GlobalLimits(storm_triggers_per_minute=100_000))
    try:
        _bounded(rig)
    finally:
        rig.close()


def _bounded(rig: KubeRig) -> None:
    seed(rig)
    pause(rig.ledger, by="alice", reason="upgrading the nodes", now=rig.clock.now())
    starts = rig.clock.now() - 900
    many = REQUEUES_PER_CYCLE + 5
    alerts = [
        alert(rig, "firing", starts, fingerprint=f"f{i:03d}", instance=f"ksm-{i}")
        for i in range(many)
    ]
    assert rig.post_alerts(alerts) == 200
    rig.cycle()
    assert _handlings(rig) == ["Paused"] * many
    rig.clock.advance(REASK_RETRY)
    handled = len(rig.handled)
    rig.cycle()
    assert _handlings(rig, handled) == ["Paused"] * REQUEUES_PER_CYCLE  # the rest wait
    handled = len(rig.handled)
    rig.clock.advance(30)
    rig.cycle()
    assert _handlings(rig, handled) == ["Paused"] * 5
    handled = len(rig.handled)
    rig.clock.advance(30)
    rig.cycle()
    assert _handlings(rig, handled) == []


def test_another_runbooks_skip_does_not_stop_the_retry_of_a_held_back_one(
    tmp_path: Path,
) -> None:
    # Two runbooks take the alert on shop/web: one whose plan stops at its atMost
    # (AtMaximum: not tried again) and looked at first, then hpa-maxed-out-raise, held
    # back by a precondition false at first (tried again). The first one's skip is the
    # first one's only: the raise is still decided once its precondition holds.
    shipped = (RUNBOOKS / f"{RUNBOOK}.yaml").read_text()
    capped = shipped.replace(f"name: {RUNBOOK}", "name: hpa-ceiling-capped")
    capped = capped.replace("atMost: 50", "atMost: 4")
    assert capped.count("hpa-ceiling-capped") == 1 and "atMost: 4" in capped
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "a-capped.yaml").write_text(capped)
    (books / "b-raise.yaml").write_text(shipped)
    rig = build_rig(tmp_path, runbooks=(books / "a-capped.yaml", books / "b-raise.yaml"))
    try:
        assert [name for name in rig.engine.runbooks] == ["hpa-ceiling-capped", RUNBOOK]
        seed(rig)
        rig.promql.set(UNSCHEDULABLE, 2.0)
        starts = _fires(rig)
        reasons = {h.runbook: h.reason_code for h in rig.handled}
        assert reasons["hpa-ceiling-capped"] == "AtMaximum"
        assert reasons[RUNBOOK] == "PreconditionFailed"
        rig.promql.set(UNSCHEDULABLE, 0.0)  # the pods found room
        gone = rig.clock.now()
        _firing(rig, starts, REASK_RETRY + 60)
        (decision,) = _decisions(rig)
        assert decision.status == "asked"
        assert gone <= decision.created_at <= gone + REASK_RETRY + 60
    finally:
        rig.close()
