"""1,000 alerts in a minute: no more actions than the guards allow, one summary to humans."""

from __future__ import annotations

from pathlib import Path

from remediation.guards import GlobalLimits
from tests.integration.remediation.rig import KubeRig, build_rig
from tests.integration.remediation.storm import (
    ALERTS,
    blow,
    figures,
    resolve_when_rolled_back,
    seed_services,
    storm_alerts,
)


def test_alert_storm_holds_every_action_and_sends_one_summary(rig: KubeRig) -> None:
    seed_services(rig, control=False)  # nothing may act, so nothing needs a controller
    alerts = storm_alerts(rig)
    assert len({a["fingerprint"] for a in alerts}) == ALERTS
    posts = blow(rig, alerts)
    rig.run(15 * 60, step=60)  # the storm cooldown (10 minutes) passes; nothing new arrives
    seen = figures(rig, posts)
    assert seen.posts_accepted == ALERTS // 10 and seen.signals_accepted == ALERTS
    assert seen.actions == 0 and rig.writes() == []
    assert seen.storm_summaries == 1
    assert seen.messages_to_humans == 1  # the summary, not 1,000 questions
    assert set(seen.denied_by) <= {"Storm", "StormCooldown"}
    assert sum(seen.denied_by.values()) == ALERTS
    (summary,) = [d for d in rig.ledger.decisions() if d.decision_type == "storm"]
    assert summary.route == "escalate" and "alert storm" in summary.reason


def test_without_the_storm_guard_the_hourly_limits_still_bound_the_actions(
    tmp_path: Path,
) -> None:
    # Storm guard off and a lenient automatic threshold (alerts act alone): only the
    # runbook's 3 actions per hour may run, however many of the 6 targets are proposed.
    rig = build_rig(tmp_path, auto=0.6, limits=GlobalLimits(storm_triggers_per_minute=100_000))
    try:
        seed_services(rig, services=6)
        alerts = storm_alerts(rig)
        blow(rig, alerts)
        resolve_when_rolled_back(rig, alerts)
        rig.run(55 * 60, step=120)
        seen = figures(rig, 0)
        patches = [w for w in rig.writes() if w.resource == "deployments"]
        assert len(patches) == 3 and seen.actions == 3  # maxActionsPerHour: 3
        assert len({w.name for w in patches}) == 3  # three targets, once each
        assert seen.decisions["crashloop-after-rollout-rollback"] == 6  # one per target
        assert seen.storm_summaries == 0
        statuses = [d.status for d in rig.decisions_of("crashloop-after-rollout-rollback")]
        assert statuses.count("verified") == 3 and statuses.count("approved") == 3
    finally:
        rig.close()


def test_approved_decisions_held_back_too_long_expire_and_escalate(tmp_path: Path) -> None:
    # As above, but approvals may wait only 30 minutes: the three decisions held back by
    # the runbook's hourly limit are not executed an hour late; they expire, and a person
    # is told why, once each.
    rig = build_rig(
        tmp_path,
        auto=0.6,
        limits=GlobalLimits(storm_triggers_per_minute=100_000, approved_max_wait=1800.0),
    )
    try:
        seed_services(rig, services=6)
        alerts = storm_alerts(rig)
        blow(rig, alerts)
        resolve_when_rolled_back(rig, alerts)
        rig.run(90 * 60, step=120)  # past the hour, when the limit would let them run
        patches = [w for w in rig.writes() if w.resource == "deployments"]
        assert len(patches) == 3
        decisions = rig.decisions_of("crashloop-after-rollout-rollback")
        statuses = [d.status for d in decisions]
        assert statuses.count("verified") == 3 and statuses.count("expired") == 3
        expired = [d for d in decisions if d.status == "expired"]
        escalated = [i for i, _ in rig.channel.escalated]
        for record in expired:
            assert escalated.count(record.id) == 1
            (note,) = [f for f in rig.ledger.feedback_for(record.id) if f["kind"] == "execution"]
            assert note["outcome"] == "expired" and "rate-limit" in note["detail"]["why"]
    finally:
        rig.close()
