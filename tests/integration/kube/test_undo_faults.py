"""Undo faults found by a review of the writers' undo, through the real client against
the fake API server."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kube_errors import TargetReplacedError
from agent.adapters.kubernetes import KubernetesCluster
from agent.clock import FakeClock
from agent.errors import TransientError
from agent.executor import Executor
from agent.ledger import open_ledger
from remediation.ports import (
    Cordon,
    Drain,
    ObjectRef,
    PatchResources,
    RollbackToPrevious,
    Scale,
    SetHpaMinReplicas,
)
from tests.fakekube import FakeApiServer
from tests.fakekube.store import RESOURCES

WEB = ObjectRef("Deployment", "web", "shop")


def _resources(fake: FakeApiServer) -> dict[str, Any]:
    (web,) = [d for d in fake.store.objects("Deployment", "shop") if d["metadata"]["name"] == "web"]
    resources: dict[str, Any] = web["spec"]["template"]["spec"]["containers"][0]["resources"]
    return resources


def test_a_resources_undo_takes_the_server_s_spelling_of_the_quantity_written_for_it(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # Planning writes a memory limit as ``format_memory`` spells it: 1.5 x 1G is
    # "1500000000". The API server keeps a quantity in its canonical form, so the
    # Deployment then reads "1500M" (the fake server keeps what it is sent: the modify
    # below stands for that). Before, the undo compared the strings, took "1500M" for
    # someone else's change (ChangedSinceWrite) and left the raised limit in place.
    operation = PatchResources(WEB, "web", limits={"memory": "1500000000"})
    result = cluster.apply(operation)
    assert result.before["limits"] == {"memory": "256Mi"}
    fake.store.modify(
        "Deployment",
        "shop",
        "web",
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
            memory="1500M"
        ),
    )
    undone = cluster.undo(operation, result.before)
    assert _resources(fake)["limits"] == {"memory": "256Mi"}
    assert "restored" in undone.summary


HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")


class _CrashError(BaseException):
    """The process dies: not caught by any guard."""


def _hpa(fake: FakeApiServer) -> tuple[int, int]:
    (hpa,) = fake.store.objects("HorizontalPodAutoscaler", "shop")
    return int(hpa["spec"]["minReplicas"]), int(hpa["spec"]["maxReplicas"])


def _raise_ceiling(fake: FakeApiServer) -> None:
    """A person raises the HPA's maxReplicas: a field the floor's undo does not write."""
    fake.store.modify(
        "HorizontalPodAutoscaler", "shop", "web", lambda h: h["spec"].update(maxReplicas=20)
    )


def test_a_floor_undo_whose_answer_was_lost_is_undone_though_the_ceiling_moved(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # The floor 2 -> 4 is written, then a person raises the ceiling 10 -> 20. The undo's
    # answer is lost, the retry's 409 is followed by a read: minReplicas is 2 again, as
    # the undo wrote. Before, that read was compared with the write's whole snapshot,
    # ceiling included, and the undo was reported refused (ChangedSinceWrite) though it
    # had landed.
    operation = SetHpaMinReplicas(HPA, 4)
    result = cluster.apply(operation)
    _raise_ceiling(fake)
    fake.inject(r"/horizontalpodautoscalers/web$", method="PATCH", lost_answer=True)
    undone = cluster.undo(operation, result.before)
    assert "the answer to the undo was lost" in undone.summary
    assert _hpa(fake) == (2, 20)


def test_a_floor_undo_cut_off_by_a_crash_is_settled_undone_though_the_ceiling_moved(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path
) -> None:
    # The undo of the floor lands and the process dies before recording it (the intent
    # stays ``undoing``); a person raises the ceiling. Before, the next leader read the
    # HPA back against the whole snapshot (ceiling included), found it "not as before",
    # tried the undo again, was refused by its compare-and-set (minReplicas is no longer
    # the 4 written) and put the intent back to ``applied``: an undo that landed was
    # recorded as not done.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        operation = SetHpaMinReplicas(HPA, 4)
        applied = executor.apply(
            "k", 0, operation, decision_id=None, runbook="r", reason_code="X", message="m"
        )
        assert applied.status == "applied" and _hpa(fake) == (4, 10)
        (intent,) = ledger.intents()
        real = cluster.undo

        def undo_then_die(op: Any, before: Any) -> Any:
            real(op, before)
            raise _CrashError

        cluster.undo = undo_then_die  # type: ignore[method-assign]
        with pytest.raises(_CrashError):
            executor.undo(intent, reason_code="Undo", message="m")
        cluster.undo = real  # type: ignore[method-assign]
        (intent,) = ledger.intents()
        assert intent.status == "undoing" and _hpa(fake) == (2, 10)
        _raise_ceiling(fake)
        nxt = Executor(ledger, cluster, FakeClock(1100), owner="b")
        assert [status for _, status in nxt.reconcile()] == ["undone"]
        (intent,) = ledger.intents()
        assert intent.status == "undone" and _hpa(fake) == (2, 20)
    finally:
        ledger.close()


def _pause(fake: FakeApiServer) -> None:
    """A person pauses the Deployment: a rollback's snapshot then refuses to read it."""
    fake.store.modify("Deployment", "shop", "web", lambda d: d["spec"].update(paused=True))


def test_a_pending_rollback_whose_target_reads_paused_is_not_taken_as_applied(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path
) -> None:
    # The process dies between the rollback's intent and its write, and a person then
    # pauses the Deployment. The next leader's read for the rollback is refused
    # (``RolloutPaused``, a PermanentError), so what the Deployment holds cannot be
    # compared with the snapshot. Before, that refusal was read as "gone", which differs
    # from any snapshot: the write nobody made was recorded applied (and would go on to
    # verification and an undo). Now whether it happened is not known: the step is not
    # applied, and the run fails and is escalated saying so.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        operation = RollbackToPrevious(WEB)

        def die(op: Any, **kw: Any) -> Any:
            raise _CrashError

        cluster.apply = die  # type: ignore[method-assign]
        with pytest.raises(_CrashError):
            executor.apply(
                "k", 0, operation, decision_id=None, runbook="r", reason_code="X", message="m"
            )
        del cluster.apply
        (intent,) = ledger.intents()
        assert intent.status == "pending"
        _pause(fake)
        nxt = Executor(ledger, cluster, FakeClock(1100), owner="b")
        assert [status for _, status in nxt.reconcile()] == ["failed"]
        (intent,) = ledger.intents()
        assert intent.status == "failed"
        result = intent.result or {}
        assert result["reason"] == "RolloutPaused"
        assert "may or may not have happened" in result["written"]
    finally:
        ledger.close()


def _recreate(fake: FakeApiServer, kind: str, namespace: str, name: str, change: Any) -> None:
    """Someone deletes the object and creates another under the same name (a new uid),
    ``change`` applied to a copy of the old one first."""
    rt = next(r for r in RESOURCES if r.kind == kind)
    old = copy.deepcopy(fake.store.get(rt, namespace, name))
    fake.store.delete(rt, namespace, name)
    for field in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        old["metadata"].pop(field, None)
    old.pop("status", None)
    change(old)
    fake.store.create(rt, namespace, old)


def _replicas(fake: FakeApiServer) -> int:
    (web,) = [d for d in fake.store.objects("Deployment", "shop") if d["metadata"]["name"] == "web"]
    return int(web["spec"]["replicas"])


def test_an_undo_is_refused_on_a_target_deleted_and_recreated_under_the_same_name(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path
) -> None:
    # Autonomic scales web 3 -> 5; then web is deleted and created again (a redeploy
    # from Git), at 5 replicas: the value Autonomic wrote. Before, the undo checked the
    # value only, found 5 and scaled the new Deployment down to 3, a write meant for an
    # object that no longer exists. Now the uid recorded with the write's snapshot
    # tells the new object apart: the undo is refused (``TargetReplaced``) and the
    # intent stays applied, so the run is escalated as for any refused undo.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        applied = executor.apply(
            "k", 0, Scale(WEB, 5), decision_id=None, runbook="r", reason_code="X", message="m"
        )
        assert applied.status == "applied" and _replicas(fake) == 5
        _recreate(fake, "Deployment", "shop", "web", lambda d: d["spec"].update(replicas=5))
        (intent,) = ledger.intents()
        undone = executor.undo(intent, reason_code="Undo", message="m")
        assert undone.status == "failed" and undone.reason == "TargetReplaced"
        assert "replaced" in undone.message
        assert _replicas(fake) == 5
        (intent,) = ledger.intents()
        assert intent.status == "applied"
    finally:
        ledger.close()


def test_an_interrupted_undo_is_not_carried_out_on_a_recreated_target(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path
) -> None:
    # The undo of a scale is recorded (``undoing``) and the process dies before writing
    # it; the Deployment is then deleted and created again at the 5 replicas written.
    # Before, the next leader's reconcile found 5 (not the 3 before the write), took
    # the undo for not done and wrote it on the new object. Now it is refused there:
    # the intent goes back to ``applied`` with why.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        executor.apply(
            "k", 0, Scale(WEB, 5), decision_id=None, runbook="r", reason_code="X", message="m"
        )
        (intent,) = ledger.intents()

        def die(op: Any, before: Any) -> Any:
            raise _CrashError

        cluster.undo = die  # type: ignore[method-assign]
        with pytest.raises(_CrashError):
            executor.undo(intent, reason_code="Undo", message="m")
        del cluster.undo
        _recreate(fake, "Deployment", "shop", "web", lambda d: d["spec"].update(replicas=5))
        nxt = Executor(ledger, cluster, FakeClock(1100), owner="b")
        assert [status for _, status in nxt.reconcile()] == ["applied"]
        assert _replicas(fake) == 5
        (intent,) = ledger.intents()
        assert intent.status == "applied"
        assert "replaced" in (intent.result or {})["undo_refused"]["why"]
    finally:
        ledger.close()


def test_an_undo_recorded_without_a_uid_still_writes_as_before(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # An intent an older release recorded has no uid in its snapshot: its undo goes on
    # by the values alone, as it did.
    operation = Scale(WEB, 5)
    result = cluster.apply(operation)
    before = {k: v for k, v in result.before.items() if k != "uid"}
    _recreate(fake, "Deployment", "shop", "web", lambda d: d["spec"].update(replicas=5))
    cluster.undo(operation, before)
    assert _replicas(fake) == 3


NODE = ObjectRef("Node", "node-1")


def _unschedulable(fake: FakeApiServer) -> bool:
    (node,) = [n for n in fake.store.objects("Node") if n["metadata"]["name"] == "node-1"]
    return bool(node["spec"].get("unschedulable", False))


def _person_cordons_before_the_first_node_patch(
    fake: FakeApiServer, cluster: KubernetesCluster
) -> list[bool]:
    """A person cordons node-1 just before Autonomic's first patch of a Node, which then
    meets a 409 (its resourceVersion is stale); the list returned is non-empty once
    that happened."""
    api = cluster.operations.api
    real_patch = api.patch
    raced: list[bool] = []

    def person_cordons_first(kind: str, namespace: Any, name: str, body: Any, **kw: Any) -> Any:
        if kind == "Node" and not raced:
            raced.append(True)
            fake.store.modify("Node", "", "node-1", lambda n: n["spec"].update(unschedulable=True))
        return real_patch(kind, namespace, name, body, **kw)

    api.patch = person_cordons_first  # type: ignore[method-assign]
    return raced


def test_a_cordon_a_person_made_between_read_and_write_is_not_undone(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path
) -> None:
    # Autonomic reads node-1 schedulable; a person cordons it before Autonomic's patch,
    # which gets a 409 (its resourceVersion is stale). The retry reads the node
    # cordoned. Before, that was taken for Autonomic's own cordon whose answer was lost:
    # recorded as its change, and the undo after a failed verification uncordoned the
    # node the person had cordoned. Now a node found cordoned on the retry was cordoned
    # before Autonomic's write: the step changed nothing, and its undo leaves the node.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        raced = _person_cordons_before_the_first_node_patch(fake, cluster)
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        applied = executor.apply(
            "k", 0, Cordon(NODE), decision_id=None, runbook="r", reason_code="X", message="m"
        )
        assert raced and _unschedulable(fake)
        assert applied.status == "applied"
        assert applied.result is not None and not applied.result.changed
        assert applied.result.before["unschedulable"] is True
        (intent,) = ledger.intents()
        undone = executor.undo(intent, reason_code="Undo", message="m")
        assert undone.status == "undone" and "nothing to undo" in undone.message
        assert _unschedulable(fake)  # the person's cordon stays
        assert ledger.count_actions(0) == 0  # not counted as an action of its runbook
    finally:
        ledger.close()


def test_a_drain_s_undo_leaves_a_cordon_a_person_made_between_read_and_write(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path
) -> None:
    # As for the cordon above, but for a drain: Autonomic's intent records node-1
    # schedulable; a person cordons it before the drain's cordon, whose patch gets a
    # 409, and the retry reads the node cordoned. The drain then evicts the pods. Before,
    # its undo wrote back the intent's snapshot ("schedulable") and uncordoned the node
    # the person had cordoned; the drain's own cordon found it cordoned (kept in its
    # progress as "before"), and the undo now leaves it cordoned.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        raced = _person_cordons_before_the_first_node_patch(fake, cluster)
        clock = FakeClock(1000)
        executor = Executor(ledger, cluster, clock, owner="a")
        drain = Drain(NODE, timeout_seconds=60)
        started = executor.apply(
            "k", 0, drain, decision_id=None, runbook="r", reason_code="X", message="m"
        )
        assert raced and _unschedulable(fake)
        assert started.status in ("applied", "draining")
        for _ in range(5):
            (intent,) = ledger.intents()
            if intent.status == "applied":
                break
            clock.advance(30)
            executor.settle(intent, note="next round")
        (intent,) = ledger.intents()
        assert intent.status == "applied"
        assert intent.snapshot["unschedulable"] is False  # as read before the person's cordon
        undone = executor.undo(intent, reason_code="Undo", message="m")
        assert undone.status == "undone" and "nothing to undo" in undone.message
        assert "already cordoned" in undone.message
        assert _unschedulable(fake)  # the person's cordon stays
    finally:
        ledger.close()


def test_a_drain_s_undo_still_uncordons_the_node_it_cordoned(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path
) -> None:
    # The usual case, unchanged: the drain's cordon is its own, and its undo uncordons.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        clock = FakeClock(1000)
        executor = Executor(ledger, cluster, clock, owner="a")
        executor.apply(
            "k", 0, Drain(NODE, timeout_seconds=60), decision_id=None, runbook="r",
            reason_code="X", message="m",
        )  # fmt: skip
        for _ in range(5):
            (intent,) = ledger.intents()
            if intent.status == "applied":
                break
            clock.advance(30)
            executor.settle(intent, note="next round")
        (intent,) = ledger.intents()
        assert intent.status == "applied" and _unschedulable(fake)
        undone = executor.undo(intent, reason_code="Undo", message="m")
        assert undone.status == "undone", undone.message
        assert not _unschedulable(fake)
    finally:
        ledger.close()


# ------------------------------------------- a target replaced before the write


def test_the_fake_server_refuses_a_write_naming_another_uid_as_kubernetes_does(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # A patch of the main resource carrying another metadata.uid: 422 (metadata.uid is
    # immutable; judged after its resourceVersion); the scale subresource: 409
    # "Precondition failed: UID in precondition". Before, the fake kept the object's
    # uid and applied the patch. The client reads both as TargetReplaced.
    api = cluster.operations.api
    replicas = _replicas(fake)
    with pytest.raises(TargetReplacedError, match="field is immutable"):
        api.patch("Deployment", "shop", "web", {"metadata": {"uid": "x"}, "spec": {"replicas": 9}})
    with pytest.raises(TargetReplacedError, match="UID in precondition"):
        api.patch_scale(
            "Deployment", "shop", "web", {"metadata": {"uid": "x"}, "spec": {"replicas": 9}}
        )
    assert _replicas(fake) == replicas
    api.patch(
        "Deployment", "shop", "web", {"metadata": {"uid": _uid(fake)}, "spec": {"replicas": 4}}
    )
    assert _replicas(fake) == 4  # its own uid: written


def _uid(fake: FakeApiServer) -> str:
    (web,) = [d for d in fake.store.objects("Deployment", "shop") if d["metadata"]["name"] == "web"]
    return str(web["metadata"]["uid"])


@pytest.mark.parametrize("when", ["before_the_re_read", "after_the_re_read"])
def test_a_write_whose_target_was_replaced_after_the_snapshot_is_refused(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path, when: str
) -> None:
    # The executor reads web (its snapshot: uid A); web is deleted and created again
    # (uid B, 5 replicas) before the write: before the writer's own read, or between
    # that read and its patch. Before, the writer's read found B, and the scale landed
    # on B: someone else's object. Now the write names A: refused, TargetReplaced,
    # recorded as such, and B keeps its 5 replicas.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        api = cluster.operations.api
        replaced: list[bool] = []

        def replace_once() -> None:
            if not replaced:
                replaced.append(True)
                _recreate(fake, "Deployment", "shop", "web", lambda d: d["spec"].update(replicas=5))

        if when == "before_the_re_read":
            real_read = api.read_scale

            def read_scale(*args: Any, **kw: Any) -> Any:
                if snapshots:  # the executor's snapshot is taken: the writer's read next
                    replace_once()
                snapshots.append(True)
                return real_read(*args, **kw)

            snapshots: list[bool] = []
            api.read_scale = read_scale  # type: ignore[method-assign]
        else:
            real_patch = api.patch_scale

            def patch_scale(*args: Any, **kw: Any) -> Any:
                replace_once()
                return real_patch(*args, **kw)

            api.patch_scale = patch_scale  # type: ignore[method-assign]
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        outcome = executor.apply(
            "k", 0, Scale(WEB, 7), decision_id=None, runbook="r", reason_code="X", message="m"
        )
        assert replaced
        assert outcome.status == "failed" and outcome.reason == "TargetReplaced", outcome
        assert "replaced" in outcome.message
        assert _replicas(fake) == 5  # the new object is left as it is
        (intent,) = ledger.intents()
        assert intent.status == "failed" and (intent.result or {})["reason"] == "TargetReplaced"
    finally:
        ledger.close()


def _image(fake: FakeApiServer) -> str:
    (web,) = [d for d in fake.store.objects("Deployment", "shop") if d["metadata"]["name"] == "web"]
    return str(web["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.parametrize("path", ["409_after_a_lost_answer", "no_answer", "cut_off_by_a_crash"])
def test_a_rollback_s_undo_is_read_back_before_the_controller_observes_it(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any, tmp_path: Path, path: str
) -> None:
    # web runs web:v3; the rollback writes v2's template, its undo writes v3's back, and
    # the Deployment controller has observed neither (Store.deployments_lag). The undo
    # lands but its answer is lost: the client's retry meets a 409 (the writer reads
    # back), or gets no answer either (the executor reads back), or the process dies
    # (the next leader reads back). Before, each read-back was the rollback's own read,
    # which waits for the controller to observe the spec (RolloutNotObserved, "not
    # rolling back ... yet"), so an undo whose template was in place was left
    # 'undoing' with nothing known. Now the read-back compares the template alone:
    # undone at once. A new rollback still waits for the controller.
    fake.store.deployments_lag = True
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        executor = Executor(ledger, cluster, FakeClock(1000), owner="a")
        applied = executor.apply(
            "k", 0, RollbackToPrevious(WEB), decision_id=None, runbook="r", reason_code="X",
            message="m",
        )  # fmt: skip
        assert applied.status == "applied" and _image(fake) == "web:v2"
        (intent,) = ledger.intents()
        fake.inject(r"/deployments/web$", method="PATCH", lost_answer=True)
        if path == "no_answer":
            fake.inject(r"/deployments/web$", method="PATCH", status=503, times=10)
        if path == "cut_off_by_a_crash":
            real = cluster.undo

            def undo_then_die(op: Any, before: Any) -> Any:
                try:
                    real(op, before)
                finally:
                    raise _CrashError

            cluster.undo = undo_then_die  # type: ignore[method-assign]
            with pytest.raises(_CrashError):
                executor.undo(intent, reason_code="Undo", message="m")
            del cluster.undo
            nxt = Executor(ledger, cluster, FakeClock(1100), owner="b")
            assert [status for _, status in nxt.reconcile()] == ["undone"]
        else:
            outcome = executor.undo(intent, reason_code="Undo", message="m")
            assert outcome.status == "undone", outcome
        assert _image(fake) == "web:v3"  # written once, and found in place
        (intent,) = ledger.intents()
        assert intent.status == "undone"
        # The forward rollback's check stands: the controller still lags the spec.
        with pytest.raises(TransientError) as lagging:
            cluster.snapshot(RollbackToPrevious(WEB))
        assert lagging.value.reason == "RolloutNotObserved"
    finally:
        ledger.close()
