"""A run started by an Alertmanager alert that resolved before its first write is not
carried out: the decision (and a claimed run's execution) is closed as ``superseded``,
nothing written, the reason told in the question's thread and kept for ``autonomic
explain``. An alert that resolved and fired again before the write is still firing.

``hpa-maxed-out-raise`` (asked about) on a KubeHpaMaxedOut alert through the webhook,
the real engine and adapter against the fake API server, on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from remediation.guards import BreakerState
from remediation.windows import to_utc_text
from tests.integration.remediation.rig import KubeRig, cycle_failing_first_intent, rfc3339
from tests.integration.remediation.test_hpa_ceiling import RAISE, RUNBOOK, ceiling, seed


def alert(
    rig: KubeRig,
    status: str,
    starts_at: float,
    ends_at: float | None = None,
    *,
    fingerprint: str = "c0f1",
    instance: str = "ksm-0",
) -> Any:
    return {
        "status": status,
        "labels": {
            "alertname": "KubeHpaMaxedOut",
            "severity": "warning",
            "namespace": "shop",
            "horizontalpodautoscaler": "web",
            "job": "kube-state-metrics",
            "instance": instance,
        },
        "annotations": {},
        "startsAt": rfc3339(starts_at),
        "endsAt": rfc3339(ends_at) if ends_at is not None else "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


def asked(rig: KubeRig) -> tuple[str, float]:
    """The alert fires and is asked about: (decision id, the alert's startsAt)."""
    seed(rig)
    starts = rig.clock.now() - 900
    assert rig.post_alerts([alert(rig, "firing", starts)]) == 200
    rig.cycle()
    (decision,) = rig.decisions_of(RUNBOOK)
    assert decision.status == "asked"
    return decision.id, starts


def status(rig: KubeRig, decision: str) -> str:
    record = rig.ledger.get_decision(decision)
    assert record is not None
    return record.status


def test_an_alert_resolved_before_the_approval_is_not_acted_on(
    rig: KubeRig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decision, starts = asked(rig)
    rig.clock.advance(120)
    resolved_at = rig.clock.now()
    assert rig.post_alerts([alert(rig, "resolved", starts, resolved_at)], "resolved") == 200
    rig.run(300)  # the person answers late
    assert rig.approve_pending("alice") == 1
    rig.run(120)

    assert rig.writes() == [] and ceiling(rig) == 4
    assert status(rig, decision) == "superseded"
    (row,) = [f for f in rig.ledger.feedback_for(decision) if f["outcome"] == "superseded"]
    why = row["detail"]["why"]
    assert why == (
        "not executed: the alert KubeHpaMaxedOut (fingerprint c0f1) resolved at "
        f"{to_utc_text(resolved_at)} (its resolution was delivered), before the first write, "
        "and no other alert that starts hpa-maxed-out-raise on Deployment/shop/web fires: "
        "there is nothing left for it to remediate; nothing was written to the cluster"
    ), why
    # told in the thread the person approved in
    assert rig.channel.threads[-1][1] == why
    assert rig.ledger.intents() == []
    capsys.readouterr()
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert main(["explain", decision, "--ledger", ledger]) == 0
    assert "the alert KubeHpaMaxedOut (fingerprint c0f1) resolved at" in capsys.readouterr().out


def test_an_alert_that_resolved_and_fired_again_is_still_firing(rig: KubeRig) -> None:
    decision, starts = asked(rig)
    rig.clock.advance(60)
    rig.post_alerts([alert(rig, "resolved", starts, rig.clock.now())], "resolved")
    rig.clock.advance(60)
    again = rig.clock.now()
    rig.post_alerts([alert(rig, "firing", again)])  # fires again: a new startsAt
    rig.cycle()
    rig.approve_pending()
    rig.run(60)
    assert rig.writes() == [RAISE] and ceiling(rig) == 6
    assert status(rig, decision) == "verifying"


def test_a_run_goes_on_while_another_alert_on_its_target_fires(rig: KubeRig) -> None:
    """Two kube-state-metrics replicas send the same alert on the same HPA: one decision
    (the other alert is a duplicate of it), which goes on while either fires."""
    decision, starts = asked(rig)
    rig.post_alerts([alert(rig, "firing", starts, fingerprint="c0f2", instance="ksm-1")])
    rig.cycle()
    assert [d.id for d in rig.decisions_of(RUNBOOK)] == [decision]
    rig.post_alerts([alert(rig, "resolved", starts, rig.clock.now())], "resolved")
    rig.approve_pending()
    rig.run(60)
    assert rig.writes() == [RAISE]
    assert status(rig, decision) == "verifying"


def test_an_alert_not_delivered_again_for_two_repeat_intervals_is_over(rig: KubeRig) -> None:
    """Alertmanager re-sends a firing alert at each repeat interval: one not heard of
    for two is no longer counted as firing, as for ``noOtherAlertFiring`` (here a 5 min
    repeat interval)."""
    assert rig.engine.inbox is not None
    rig.engine.inbox.stale_after = 600.0
    decision, _ = asked(rig)
    rig.clock.advance(660)
    rig.approve_pending()
    rig.run(60)
    assert rig.writes() == []
    assert status(rig, decision) == "superseded"
    (row,) = [f for f in rig.ledger.feedback_for(decision) if f["outcome"] == "superseded"]
    assert "and not again for 10m (twice alertmanager.repeatInterval)" in row["detail"]["why"]


def test_a_claimed_run_whose_alert_resolves_before_its_first_intent_is_superseded(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claimed, the ledger fails on the first write-ahead intent; the alert resolves
    meanwhile: the next cycle closes the run, decision and execution, nothing written,
    its count in the guards given back and its runbook's breaker untouched."""
    decision, starts = asked(rig)
    rig.approve_pending()
    key = cycle_failing_first_intent(rig, monkeypatch)
    assert status(rig, decision) == "executing"
    rig.post_alerts([alert(rig, "resolved", starts, rig.clock.now())], "resolved")
    rig.run(60)

    assert rig.writes() == [] and ceiling(rig) == 4
    assert rig.ledger.intents() == []
    assert status(rig, decision) == "superseded"
    execution = rig.ledger.execution(key)
    assert execution is not None and execution["status"] == "superseded"
    state, _ = rig.engine.guard_state()
    assert state.in_flight == () and state.actions == ()
    assert state.breakers.get(RUNBOOK, BreakerState()).consecutive_failures == 0
    (row,) = [f for f in rig.ledger.feedback_for(decision) if f["outcome"] == "superseded"]
    assert row["detail"]["why"].startswith("not executed: the alert KubeHpaMaxedOut")
    assert row["detail"]["why"].endswith("nothing was written to the cluster")


def test_a_run_written_before_its_alert_resolved_is_verified_not_stopped(rig: KubeRig) -> None:
    decision, starts = asked(rig)
    rig.approve_pending()
    rig.run(60)
    assert rig.writes() == [RAISE]
    rig.post_alerts([alert(rig, "resolved", starts, rig.clock.now())], "resolved")
    rig.run(60)
    assert status(rig, decision) == "verifying"  # judged by its checks, not superseded


def test_an_alert_resent_with_a_later_ends_at_still_fires_past_its_first(rig: KubeRig) -> None:
    """A relay that sets a firing alert's endsAt a few minutes ahead, and pushes it on at
    every re-send: the alert still fires once the first endsAt has passed, so the
    approved decision is carried out."""
    seed(rig)
    starts = rig.clock.now() - 900
    first_end = rig.clock.now() + 300
    assert rig.post_alerts([alert(rig, "firing", starts, first_end)]) == 200
    rig.cycle()
    (asked_one,) = rig.decisions_of(RUNBOOK)
    assert asked_one.status == "asked"
    rig.clock.advance(240)
    assert rig.post_alerts([alert(rig, "firing", starts, rig.clock.now() + 300)]) == 200
    rig.clock.advance(120)  # past the first endsAt, before the second
    assert rig.engine.inbox is not None
    assert rig.engine.inbox.ended("c0f1") is None
    assert [row.fingerprint for row in rig.engine.inbox.firing_rows()] == ["c0f1"]
    rig.approve_pending()
    rig.run(60)
    assert rig.writes() == [RAISE] and ceiling(rig) == 6
    assert status(rig, asked_one.id) == "verifying"
