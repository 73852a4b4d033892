"""After a run closed because the object its incident was about was replaced since the
plan (``ReplacedSincePlan``, nothing written), the replacement showing the same problem
is judged as a new object: one new decision about it, not a duplicate of the closed one
for good, and not a question at every cycle.

A state trigger (``restart-stuck-pods``, a pod not Ready for 15 minutes) and an
Alertmanager trigger (``hpa-maxed-out-raise`` on KubeHpaMaxedOut, which keeps firing with
the same labels and start), through the engine, the real client and the fake API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import TransientError
from agent.ids import short_id
from tests.integration.remediation.rig import (
    Controller,
    KubeRig,
    build_rig,
    rfc3339,
    seed_web,
)
from tests.integration.remediation.test_alert_gone import asked
from tests.integration.remediation.test_hpa_ceiling import RAISE, UNSCHEDULABLE, ceiling, hpa_status
from tests.integration.remediation.test_hpa_ceiling import RUNBOOK as HPA_RUNBOOK
from tests.integration.remediation.test_replaced_since_plan import (  # noqa: F401 (fixture)
    REPLACED,
    asking,
    recreate,
    uid_of,
)
from tests.integration.remediation.test_replaced_since_plan import RUNBOOK as STUCK_RUNBOOK


def _operation_uid(rig: KubeRig, decision_id: str) -> str:
    decision = rig.ledger.get_decision(decision_id)
    assert decision is not None
    (operation,) = decision.proposal["operations"]
    return str(operation["planned_uid"])


def test_a_replacement_pod_stuck_too_gets_its_own_fifteen_minutes(
    asking: KubeRig,  # noqa: F811
) -> None:
    # A state trigger: the replacement pod's not-Ready spell starts when it does, so its
    # incident is a new one (its own key), judged after its own 15 minutes, then asked
    # about once and, approved, acted on. This held before the change; kept as it is.
    rig = asking
    seed_web(rig, started_at=rig.clock.now() - 7200)
    stuck = rig.server.store.objects("Pod", "shop")[1]["metadata"]["name"]
    rig.server.store.modify(
        "Pod",
        "shop",
        stuck,
        lambda pod: pod["status"]["conditions"][1].update(
            status="False", lastTransitionTime=rfc3339(rig.clock.now())
        ),
    )
    controller = Controller(rig.server, rig.clock, lambda _c: "Ready", heal=False)
    rig.controllers.append(lambda: controller.reconcile("shop", "web"))
    rig.run(16 * 60)
    (first,) = rig.decisions_of(STUCK_RUNBOOK)
    new_uid = recreate(rig, "Pod", stuck, fresh_pod=True)
    assert rig.approve_pending() == 1
    rig.run(60)
    closed = rig.ledger.get_decision(first.id)
    assert closed is not None and closed.status == "superseded"
    assert rig.writes() == []
    rig.run(13 * 60)  # the new pod not Ready for 14 minutes: not yet
    assert [d.id for d in rig.decisions_of(STUCK_RUNBOOK)] == [first.id]
    rig.run(3 * 60)
    second = [d for d in rig.decisions_of(STUCK_RUNBOOK) if d.id != first.id]
    assert [d.status for d in second] == ["asked"]
    assert _operation_uid(rig, second[0].id) == new_uid
    assert rig.channel.asked == [first.id, second[0].id]  # one question each, no more
    assert rig.approve_pending() == 1
    rig.run(60)
    assert [(w.method, w.name) for w in rig.writes()] == [("DELETE", stuck)]
    assert uid_of(rig, "Pod", stuck) is None


def test_an_alert_still_firing_about_a_replaced_object_is_decided_again(rig: KubeRig) -> None:
    # KubeHpaMaxedOut fires about HPA shop/web and is asked about; the HPA is replaced
    # (deleted and created again under its name, still at its ceiling) before the
    # approval, so the approved raise is refused (ReplacedSincePlan) and closed with
    # nothing written. The alert never resolves: its labels are the new HPA's too.
    # Before, the incident (the alert's fingerprint and start) kept the closed decision,
    # and the alert, taken in once per start, was never looked at again: nothing was
    # done or asked about the new HPA until the alert resolved and fired anew. Now the
    # next cycle takes the alert in again and asks once about the new HPA; approved, it
    # is raised.
    first, _starts = asked(rig)
    new_uid = recreate(rig, "HorizontalPodAutoscaler", "web")
    hpa_status(rig, 4)
    assert rig.approve_pending() == 1
    rig.cycle()
    closed = rig.ledger.get_decision(first)
    assert closed is not None and closed.status == "superseded"
    assert rig.writes() == [] and ceiling(rig) == 4
    for _ in range(3):
        rig.clock.advance(60)
        rig.cycle()
    decisions = rig.decisions_of(HPA_RUNBOOK)
    second = [d for d in decisions if d.id != first]
    assert [d.status for d in second] == ["asked"], [(d.id, d.status) for d in decisions]
    assert _operation_uid(rig, second[0].id) == new_uid
    assert "was replaced" in second[0].reason and short_id(first) in second[0].reason
    assert second[0].evidence["asked_again"]["after"] == first
    assert rig.channel.asked == [first, second[0].id]  # one new question, not one a cycle
    assert rig.approve_pending() == 1
    rig.cycle()
    assert rig.writes() == [RAISE] and ceiling(rig) > 4
    done = rig.ledger.get_decision(second[0].id)
    assert done is not None and done.status in ("verifying", "verified")
    execution = rig.ledger.execution(done.incident_key or done.id)
    assert execution is not None and execution["decision_id"] == done.id


def test_an_alert_whose_requeue_failed_once_is_decided_again_without_a_restart(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As above, but making the alert pending again after the closing fails once (the
    # ledger briefly away: a TransientError, which ends that cycle) and the process keeps
    # running. Before, nothing else requeued it while the process lived: the re-ask scan
    # passes over superseded decisions, and ``_requeue_replaced`` runs only at a
    # recovery (a restart, a new term), so the firing alert went unhandled until then.
    # Now the scan takes in again, once, an alert whose decision was closed so after
    # the alert was last taken in.
    first, _starts = asked(rig)
    new_uid = recreate(rig, "HorizontalPodAutoscaler", "web")
    hpa_status(rig, 4)
    assert rig.approve_pending() == 1
    real = rig.ledger.requeue_alert
    failed: list[str] = []

    def requeue_alert(fingerprint: str, starts_at: float) -> bool:
        if failed:
            return real(fingerprint, starts_at)
        failed.append(fingerprint)
        raise TransientError("the ledger at sqlite:///x write failed: database is locked")

    monkeypatch.setattr(rig.ledger, "requeue_alert", requeue_alert)
    rig.clock.advance(60)
    with pytest.raises(TransientError):
        rig.cycle()
    assert failed
    closed = rig.ledger.get_decision(first)
    assert closed is not None and closed.status == "superseded"
    for _ in range(3):
        rig.clock.advance(60)
        rig.cycle()
    second = [d for d in rig.decisions_of(HPA_RUNBOOK) if d.id != first]
    assert [d.status for d in second] == ["asked"], [(d.id, d.status) for d in second]
    assert _operation_uid(rig, second[0].id) == new_uid
    assert second[0].evidence["asked_again"]["after"] == first
    # Once: not taken in again at every cycle after that.
    handled = len(rig.handled)
    for _ in range(10):
        rig.clock.advance(60)
        rig.cycle()
    assert [h for h in rig.handled[handled:] if h.runbook == HPA_RUNBOOK] == []
    assert rig.channel.asked == [first, second[0].id]


class _CrashError(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process."""


def test_an_alert_still_firing_is_decided_again_after_a_crash_before_its_requeue(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As above, but the process dies after the run was closed (ReplacedSincePlan) and
    # before its alert was made pending again. Before, the restart's recovery did not
    # look at such a closing: the alert stayed handled and, never resolving, was never
    # taken in again, so the new HPA's problem was neither acted on nor asked about.
    # Now the recovery requeues the alert of a run so closed whose incident has no newer
    # decision, and the next cycle asks once about the new HPA.
    first, _starts = asked(rig)
    new_uid = recreate(rig, "HorizontalPodAutoscaler", "web")
    hpa_status(rig, 4)
    assert rig.approve_pending() == 1

    def crash(*_args: object) -> bool:
        raise _CrashError

    with monkeypatch.context() as patched:
        patched.setattr(rig.ledger, "requeue_alert", crash)
        with pytest.raises(_CrashError):
            rig.cycle()
    closed = rig.ledger.get_decision(first)
    assert closed is not None and closed.status == "superseded"
    rig.engine.recover()  # the restart
    for _ in range(3):
        rig.clock.advance(60)
        rig.cycle()
    second = [d for d in rig.decisions_of(HPA_RUNBOOK) if d.id != first]
    assert [d.status for d in second] == ["asked"]
    assert _operation_uid(rig, second[0].id) == new_uid
    assert rig.channel.asked == [first, second[0].id]
    rig.engine.recover()  # a later restart: the incident has its new decision
    rig.clock.advance(60)
    rig.cycle()
    assert rig.channel.asked == [first, second[0].id]


class Crash(BaseException):
    """The process dies (a BaseException: the per-item guards do not catch it)."""


def test_a_crash_between_the_closing_and_the_requeue_still_decides_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As above, but the process dies right after the run was closed ReplacedSincePlan,
    # before its alert was made pending again (a separate write). Before, the alert, taken
    # in once per start, was then never looked at again. Now the restarted engine's
    # recovery finds it (``_requeue_replaced``) and its cycle asks once about the new HPA.
    ledger = tmp_path / "ledger.sqlite"
    rig = build_rig(tmp_path, ledger_path=ledger)
    try:
        first, _starts = asked(rig)
        new_uid = recreate(rig, "HorizontalPodAutoscaler", "web")
        hpa_status(rig, 4)
        assert rig.approve_pending() == 1

        def crash(_record: object) -> None:
            raise Crash

        monkeypatch.setattr(rig.engine, "_requeue_alert", crash)
        rig.clock.advance(60)  # the person answers a minute later
        with pytest.raises(Crash):
            rig.cycle()
        closed = rig.ledger.get_decision(first)
        assert closed is not None and closed.status == "superseded"
        server, now = rig.server, rig.clock.now()
    finally:
        rig.cluster.stop()
        rig.api_client.close()
        rig.decisions.approvals.dispatcher.stop()
        rig.ledger.close()
    restarted = build_rig(tmp_path, ledger_path=ledger, server=server, start=now + 30)
    try:
        restarted.promql.set(UNSCHEDULABLE, 0.0)
        restarted.engine.recover()  # as the daemon does when it leads
        for _ in range(3):
            restarted.clock.advance(60)
            restarted.cycle()
        second = [d for d in restarted.decisions_of(HPA_RUNBOOK) if d.id != first]
        assert [d.status for d in second] == ["asked"], [(d.id, d.status) for d in second]
        assert _operation_uid(restarted, second[0].id) == new_uid
        assert second[0].evidence["asked_again"]["after"] == first
        assert restarted.channel.asked == [second[0].id]  # once, not once a cycle
        assert restarted.writes() == []
    finally:
        restarted.close()
