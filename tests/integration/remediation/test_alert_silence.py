"""``noOtherAlertFiring`` when Alertmanager falls silent: an alert last known firing,
never resolved, whose re-sends stopped together with every other delivery, is not "not
firing". It used to be: once its last delivery was older than twice
``alertmanager.repeatInterval`` it was dropped from the firing set, and the crash-loop
rollback went ahead as if nothing else fired. Now the precondition cannot hold
(``AlertStateUnknown``, naming the alert and the age of its last delivery). An alert
Alertmanager left out while it kept delivering others still counts as resolved (its
resolution was lost), so that one lost resolution does not hold the runbook for good."""

from __future__ import annotations

from typing import Any

from remediation.windows import to_utc_text
from tests.integration.remediation.rig import KubeRig, Replicas, rfc3339, seed_web
from tests.integration.remediation.test_alert_inbox import (
    ROLLBACK,
    critical,
    post,
    replicas,  # noqa: F401 - the fixture: SQLite, and PostgreSQL under CI
)

NINE_HOURS = 9 * 3600.0  # past twice Alertmanager's default repeat_interval (4h)


def watchdog(rig: KubeRig) -> dict[str, Any]:
    """kube-prometheus' always-firing Watchdog: Alertmanager is up and reaching us."""
    return {
        "status": "firing",
        "labels": {"alertname": "Watchdog", "severity": "none"},
        "startsAt": rfc3339(rig.clock.now() - 60),
        "fingerprint": "wd0",
    }


def test_a_critical_alert_not_heard_of_since_alertmanager_fell_silent_holds_the_rollback(
    replicas: Replicas,  # noqa: F811
) -> None:
    rig = replicas.start()
    delivered = rig.clock.now()
    assert post(rig, [critical(rig)])[0] == 200
    rig.cycle()
    rig.clock.advance(NINE_HOURS)  # nothing delivered since: Alertmanager down
    seed_web(rig, behaviour="CrashLoopBackOff")

    assert rig.engine.snapshot().alerts == ()  # too old to count as firing
    held = [h for h in rig.cycle() if h.runbook == ROLLBACK]
    assert held and {h.reason_code for h in held} == {"AlertStateUnknown"}
    assert held[0].message == (
        "alert KubeQuotaExceeded was last known firing, last delivered 9h ago (at "
        f"{to_utc_text(delivered)}), and nothing has been heard from Alertmanager since: whether "
        "it still fires is not known, so noOtherAlertFiring cannot hold; a person should look "
        "first (and at why Alertmanager is silent)"
    )
    assert rig.decisions_of(ROLLBACK) == [] and rig.writes() == []

    # Alertmanager is back and still sends it: firing, as before.
    assert post(rig, [critical(rig)])[0] == 200
    rig.clock.advance(30)
    held = [h for h in rig.cycle() if h.runbook == ROLLBACK]
    assert held and {h.reason_code for h in held} == {"OtherAlertFiring"}


def test_an_alert_left_out_while_alertmanager_kept_delivering_has_resolved(
    replicas: Replicas,  # noqa: F811
) -> None:
    rig = replicas.start()
    assert post(rig, [critical(rig)])[0] == 200
    rig.cycle()
    rig.clock.advance(NINE_HOURS)
    assert post(rig, [watchdog(rig)])[0] == 200  # Alertmanager speaks, without it
    rig.clock.advance(30)
    seed_web(rig, behaviour="CrashLoopBackOff")

    decided = [h for h in rig.cycle() if h.runbook == ROLLBACK and h.outcome == "decided"]
    assert len(decided) == 1
