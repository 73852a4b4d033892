"""Fixes found while proving the engine end to end, each pinned over the wire.

- A persistent condition is one trigger, not one per cycle (it used to count again on
  every cycle, so 15 crash-looping Deployments looked like a storm within a minute); and only
  signals a runbook takes up count (pods starting during a scale-out used to).
- An undo is written ahead like any write: a crash between the undo's write and its
  record is reconciled (the undo is not written twice, nor taken for someone else's).
- Reconciling a pending intent compares the fields the write changes, not the
  resourceVersion (which a controller's status update bumps).
- An alert a runbook's trigger accepts but which names no object (a ResourceQuota
  alert from kube-state-metrics) said "no runbook", and nothing was logged: the runbook that
  was meant to run and the reason it did not are given now.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from agent.executor import Executor
from remediation.ports import ObjectRef, Operation, Scale
from tests.integration.remediation.rig import (
    Controller,
    KubeRig,
    Write,
    build_rig,
    get_obj,
    rfc3339,
    seed_nodes,
    seed_web,
)

SCALE = Write("PATCH", "deployments/scale", "shop", "web", False)


def test_a_lasting_condition_is_one_trigger_not_a_storm(rig: KubeRig) -> None:
    # 15 opted-in crash-looping Deployments (one incident each): fewer than the default
    # storm threshold (20 a minute) when counted once, far more when counted every cycle
    for index in range(15):
        seed_web(rig, name=f"noise-{index}", behaviour="CrashLoopBackOff")
    first = rig.clock.now() + 15
    rig.run(3 * 60, step=15)  # 12 cycles, 4 a minute: 60 sightings a minute
    state, _ = rig.engine.guard_state()
    assert state.storm_seen_at is None
    assert len(state.trigger_times) == 15
    assert set(state.trigger_times) == {first}  # each signal counted once, when first seen


def test_signals_no_runbook_takes_up_are_no_storm(rig: KubeRig) -> None:
    # 30 crash-looping pods of Deployments nobody opted in: no runbook acts on them, so
    # they are no storm of actions and must not hold back the one that is opted in.
    for index in range(10):
        name = f"noise-{index}"
        seed_web(rig, name=name, behaviour="CrashLoopBackOff")
        rig.server.store.modify(
            "Deployment", "shop", name, lambda d: d["metadata"]["labels"].clear()
        )
    rig.run(60, step=15)
    state, _ = rig.engine.guard_state()
    assert state.trigger_times == () and state.storm_seen_at is None
    seed_web(rig, behaviour="CrashLoopBackOff")
    handled = rig.cycle()
    assert sum(h.outcome == "no-match" for h in handled) >= 30  # every noise pod
    decided = [h for h in handled if h.outcome == "decided"]
    assert [h.runbook for h in decided] == ["crashloop-after-rollout-rollback"]
    assert len(rig.engine.guard_state()[0].trigger_times) == 1  # the opted-in rollout only


class _CrashError(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process (a ``BaseException``,
    as one approved decision's ``Exception`` is caught so the others go on)."""


class _DyingWriter:
    """The adapter, dying just before or just after the undo's write."""

    def __init__(self, inner: Any, when: str) -> None:
        self.inner, self.when = inner, when

    def snapshot(self, operation: Operation) -> dict[str, Any]:
        return dict(self.inner.snapshot(operation))

    def apply(self, operation: Operation, *, dry_run: bool = False, uid: str | None = None) -> Any:
        return self.inner.apply(operation, dry_run=dry_run, uid=uid)

    def undo(self, operation: Operation, before: dict[str, Any]) -> Any:
        if self.when == "before":
            raise _CrashError
        self.inner.undo(operation, before)
        raise _CrashError

    def post_event(self, *args: Any, **kwargs: Any) -> None:
        self.inner.post_event(*args, **kwargs)


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_undo_cut_off_by_a_crash_is_reconciled_once(rig: KubeRig, when: str) -> None:
    seed_web(rig, replicas=3)
    dying = Executor(rig.ledger, _DyingWriter(rig.cluster, when), rig.clock, owner="a")
    web = ObjectRef("Deployment", "web", "shop")
    outcome = dying.apply(
        "key", 0, Scale(web, 5), decision_id=None, runbook="r", reason_code="Test", message="test"
    )
    assert outcome.status == "applied"
    (intent,) = rig.ledger.intents()
    with pytest.raises(_CrashError):
        dying.undo(intent, reason_code="Test", message="test")
    assert [i.status for i in rig.ledger.intents()] == ["undoing"]
    fresh = Executor(rig.ledger, rig.cluster, rig.clock, owner="b")  # after the restart
    assert [status for _, status in fresh.reconcile()] == ["undone"]
    assert [i.status for i in rig.ledger.intents()] == ["undone"]
    assert rig.writes() == [SCALE, SCALE]  # the scale and one undo, never two
    assert get_obj(rig.server.store, "Deployment", "shop", "web")["spec"]["replicas"] == 3


def test_a_status_update_does_not_pass_for_our_write(rig: KubeRig) -> None:
    seed_web(rig, replicas=3)
    web = ObjectRef("Deployment", "web", "shop")
    snapshot = rig.cluster.snapshot(Scale(web, 5))
    rig.ledger.record_intent(
        "key",
        0,
        {
            "op": "scale",
            "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
            "replicas": 5,
        },
        snapshot,
        "a",
        rig.clock.now(),
    )
    # Crash before the write; meanwhile the Deployment controller updates the status.
    controller = Controller(rig.server, rig.clock, lambda _c: "Ready")
    rig.server.store.modify("Deployment", "shop", "web", lambda d: d["status"].update(replicas=2))
    controller.reconcile("shop", "web")
    fresh = Executor(rig.ledger, rig.cluster, rig.clock, owner="b")
    assert [status for _, status in fresh.reconcile()] == ["abandoned"]
    assert rig.writes() == []


def test_a_crash_before_the_question_is_shown_leaves_it_answerable(rig: KubeRig) -> None:
    seed_web(rig, images=("shop/web:1",), behaviour="OOMKilled")
    # Die after the decision and its question are written (one transaction), before the
    # question is shown anywhere.
    show = rig.decisions.approvals.show
    rig.decisions.approvals.show = lambda *_a, **_k: (_ for _ in ()).throw(_CrashError())  # type: ignore[method-assign]
    with pytest.raises(_CrashError):
        rig.cycle()
    rig.decisions.approvals.show = show  # type: ignore[method-assign]
    (decision,) = rig.decisions_of("oom-raise-memory-limit")
    (question,) = rig.ledger.questions()
    assert decision.status == "asked" and question.decision_id == decision.id
    assert question.status == "pending"  # answerable from the CLI and the HTTP endpoint
    assert rig.engine.recover()["asked"] == 0  # nothing to ask again


def test_a_decision_asked_without_its_question_is_asked_after_a_restart(rig: KubeRig) -> None:
    """A ledger written before decisions and questions shared one transaction can hold
    an asked decision without its question: recovery asks it, once."""
    seed_web(rig, images=("shop/web:1",), behaviour="OOMKilled")
    record_question = rig.ledger.record_question

    def decision_only(decision: Any, now: float, **_k: Any) -> tuple[str, str]:
        rig.ledger.record_decision(decision, now)
        raise _CrashError

    rig.ledger.record_question = decision_only  # type: ignore[method-assign]
    with pytest.raises(_CrashError):
        rig.cycle()
    rig.ledger.record_question = record_question  # type: ignore[method-assign]
    (decision,) = rig.decisions_of("oom-raise-memory-limit")
    assert decision.status == "asked" and rig.ledger.questions() == []
    assert rig.engine.recover()["asked"] == 1
    (question,) = rig.ledger.questions()
    assert question.decision_id == decision.id
    assert rig.engine.recover()["asked"] == 0  # once


def test_a_drain_cut_off_after_its_cordon_is_resumed_by_the_next_leader(rig: KubeRig) -> None:
    """SIGKILL between two evictions of an approved drain: the next leader's recovery
    evicts what is left (within the budget) instead of escalating a half-drained node,
    and the decision then verifies. No pod is evicted twice."""
    seed_nodes(rig, 10, not_ready={"node-3": rig.clock.now() - 360})
    seed_web(rig, replicas=4, nodes=("node-3", "node-4"))
    controller = Controller(rig.server, rig.clock, lambda _c: "Ready")
    rig.controllers.append(lambda: controller.reconcile("shop", "web"))
    assert [h.runbook for h in rig.cycle() if h.outcome == "decided"] == ["node-notready-drain"]
    rig.approve_pending()

    api = rig.cluster.api
    evict = api.evict_pod
    calls: list[str] = []

    def dying_evict(namespace: str, name: str, *, dry_run: bool = False, **kw: Any) -> Any:
        calls.append(name)
        if len(calls) == 2:
            raise _CrashError  # killed between the first and the second eviction
        return evict(namespace, name, dry_run=dry_run, **kw)

    api.evict_pod = dying_evict  # type: ignore[method-assign]
    with pytest.raises(_CrashError):
        rig.run(30)
    api.evict_pod = evict  # type: ignore[method-assign]
    (intent,) = rig.ledger.intents()
    assert intent.status == "pending" and intent.operation["op"] == "drain"
    assert get_obj(rig.server.store, "Node", None, "node-3")["spec"]["unschedulable"] is True

    def on_node() -> list[str]:
        pods = rig.server.store.objects("Pod", "shop")
        # An evicted pod on the NotReady node stays Terminating: not counted.
        return sorted(
            p["metadata"]["name"]
            for p in pods
            if p["spec"]["nodeName"] == "node-3" and not p["metadata"].get("deletionTimestamp")
        )

    assert len(on_node()) == 1  # one evicted before the kill, one left

    counts = rig.engine.recover()  # the next leader
    assert counts["reconciled"] == 1 and counts["failed"] == 0
    (intent,) = rig.ledger.intents()
    assert intent.status == "applied" and intent.result is not None
    assert intent.result["resumed"] is True and intent.result["reconciled"] is True
    assert "1 pod(s) were evicted before it" in intent.result["summary"]
    assert on_node() == []
    evictions = [w for w in rig.writes() if w.resource == "pods/eviction"]
    assert len(evictions) == 2  # one before the kill, one resumed: none twice
    events = [w for w in rig.writes(events=True) if w.resource == "events"]
    assert events  # `kubectl describe node` tells what happened
    rig.run(3 * 60)
    (decision,) = rig.decisions_of("node-notready-drain")
    assert rig.ledger.get_decision(decision.id).status == "verified"  # type: ignore[union-attr]


def test_a_drain_whose_cordon_never_happened_is_settled_not_resumed(rig: KubeRig) -> None:
    seed_nodes(rig, 10, not_ready={"node-3": rig.clock.now() - 360})
    seed_web(rig, replicas=2, nodes=("node-3", "node-4"))
    assert [h.runbook for h in rig.cycle() if h.outcome == "decided"] == ["node-notready-drain"]
    rig.approve_pending()
    patch = rig.cluster.api.patch

    def dying_patch(*args: Any, **kwargs: Any) -> Any:
        raise _CrashError  # killed before the cordon reached the API server

    rig.cluster.api.patch = dying_patch  # type: ignore[method-assign]
    with pytest.raises(_CrashError):
        rig.run(30)
    rig.cluster.api.patch = patch  # type: ignore[method-assign]
    (intent,) = rig.ledger.intents()
    assert intent.status == "pending"
    counts = rig.engine.recover()
    assert counts["failed"] == 1  # abandoned: the runbook's run fails and a person is told
    (intent,) = rig.ledger.intents()
    assert intent.status == "abandoned"
    assert [w for w in rig.writes() if w.resource == "pods/eviction"] == []


QUOTA_NOTIFY = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: quota-almost-full
  description: Tell the owners when a namespace's quota is almost used up.
spec:
  mode: enforce
  triggers:
    - type: alert
      alertname: KubeQuotaAlmostFull
  target:
    kind: StatefulSet
  actions:
    - type: notify
      message: "{{target}}: {{signal}}"
"""


def test_an_alert_naming_no_object_says_why_its_runbook_did_not_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "quota.yaml").write_text(QUOTA_NOTIFY)
    rig = build_rig(tmp_path, runbooks=[folder])
    try:
        labels = {"namespace": "db", "resourcequota": "compute", "resource": "cpu"}
        alert = {
            "status": "firing",
            "labels": {"alertname": "KubeQuotaAlmostFull", **labels},
            "annotations": {},
            "startsAt": rfc3339(rig.clock.now() - 60),
            "fingerprint": "beef",
        }
        other = alert | {"labels": {"alertname": "Watchdog"}, "fingerprint": "cafe"}
        assert rig.post_alerts([alert, other]) == 200
        with caplog.at_level(logging.WARNING, logger="autonomic.remediation"):
            handled = rig.cycle()
        quota, watchdog = handled
        assert (quota.runbook, quota.outcome, quota.reason_code) == (
            "quota-almost-full",
            "no-match",
            "NoTarget",
        )
        assert quota.message.startswith("alert KubeQuotaAlmostFull")
        assert quota.message.endswith(
            "names no object (an alert names its object by a 'pod', 'deployment', "
            "'statefulset', 'horizontalpodautoscaler', 'job_name' or 'persistentvolumeclaim' "
            "label with 'namespace', or by a 'node' label)"
        )
        # an alert no trigger accepts is still just that
        assert (watchdog.runbook, watchdog.reason_code, watchdog.message) == (
            None,
            "NoMatch",
            "no runbook",
        )
        (record,) = [r for r in caplog.records if "quota-almost-full" in r.getMessage()]
        assert record.getMessage().startswith("runbook quota-almost-full does not run: alert ")
        assert record.getMessage().endswith("[NoTarget]")
        assert rig.decisions_of("quota-almost-full") == []

        # Alertmanager sends the alert again (and again): one warning an hour says it
        caplog.clear()
        for resend in range(3):
            rig.clock.advance(600)
            assert rig.post_alerts([alert | {"fingerprint": f"beef{resend}"}]) == 200
            with caplog.at_level(logging.WARNING, logger="autonomic.remediation"):
                assert [h.reason_code for h in rig.cycle()] == ["NoTarget"]
        assert not [r for r in caplog.records if "quota-almost-full" in r.getMessage()]
        rig.clock.advance(3600)
        assert rig.post_alerts([alert | {"fingerprint": "beef9"}]) == 200
        with caplog.at_level(logging.WARNING, logger="autonomic.remediation"):
            rig.cycle()
        (record,) = [r for r in caplog.records if "quota-almost-full" in r.getMessage()]
        assert record.getMessage().endswith("[NoTarget] (3 more like it since the last warning)")
    finally:
        rig.close()
