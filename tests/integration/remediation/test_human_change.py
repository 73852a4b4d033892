"""The "a person changed it recently" guard on the real adapter: who last wrote an
object comes from its ``metadata.managedFields``, which the fake API server records per
``fieldManager`` as a real one does. A person (``kubectl-edit``) writing after
Autonomic's action holds the runbook; the cluster's own controllers (the HPA scaling
through ``/scale`` as kube-controller-manager, a status write) do not. A bare uncordon
(``spec.unschedulable`` removed) sets no field, so a real API server, and the fake,
record no writer and no time for it; a node Autonomic cordoned and did not uncordon,
schedulable again, is taken as uncordoned by someone else, at the time Autonomic first
saw it so (kept in the ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from agent.ledger import DecisionRecord
from agent.remediation_engine import Handled
from agent.uncordons import OBSERVED_PREFIX
from agent.undo import request
from remediation.ports import ObjectRef
from tests.integration.remediation.rig import (
    Controller,
    KubeRig,
    Replicas,
    Write,
    delete_obj,
    get_obj,
    rfc3339,
    seed_nodes,
    seed_web,
)
from tests.integration.remediation.test_runbook_scenarios import _surge as surge

WEB_REF = ObjectRef("Deployment", "web", "shop")
SURGE = "traffic-surge-scale-out"


def _surge(rig: KubeRig) -> list[Handled]:
    surge(rig)
    return [h for h in rig.cycle() if h.runbook == SURGE]


def _scaled_once_and_past_the_cooldown(rig: KubeRig) -> None:
    """Autonomic scales web out (verified), then the runbook's 15-minute cooldown per
    target passes."""
    seed_web(rig, replicas=4)
    controller = Controller(rig.server, rig.clock, lambda _c: "Ready")
    rig.controllers.append(lambda: controller.reconcile("shop", "web"))
    rig.promql.set("http_request_duration_seconds_bucket", 0.21)
    (first,) = _surge(rig)
    assert first.outcome == "decided"
    rig.run(16 * 60, step=60)
    (decision,) = rig.decisions_of(SURGE)
    assert rig.ledger.get_decision(decision.id).status == "verified"  # type: ignore[union-attr]


def _managers(rig: KubeRig, kind: str, namespace: str | None, name: str) -> set[tuple[str, str]]:
    obj = get_obj(rig.server.store, kind, namespace, name)
    return {
        (e["manager"], e.get("subresource", "")) for e in obj["metadata"].get("managedFields", [])
    }


def test_a_person_editing_the_deployment_after_our_scale_holds_the_runbook(
    rig: KubeRig,
) -> None:
    _scaled_once_and_past_the_cooldown(rig)
    apps = client.AppsV1Api(rig.api_client)
    apps.patch_namespaced_deployment(
        "web",
        "shop",
        {"metadata": {"annotations": {"team/on-it": "alice"}}},
        field_manager="kubectl-edit",
    )
    assert ("kubectl-edit", "") in _managers(rig, "Deployment", "shop", "web")
    rig.clock.advance(60)
    (again,) = _surge(rig)
    assert (again.outcome, again.reason_code) == ("denied", "HumanRecentlyChanged")
    assert "changed Deployment/shop/web 1m ago, after our last action on it" in again.message
    assert len(rig.decisions_of(SURGE)) == 1
    assert get_obj(rig.server.store, "Deployment", "shop", "web")["spec"]["replicas"] == 6


def test_the_hpa_and_status_writes_after_our_scale_do_not_hold_it(rig: KubeRig) -> None:
    _scaled_once_and_past_the_cooldown(rig)
    apps = client.AppsV1Api(rig.api_client)
    # The HPA controller scales through /scale; the Deployment controller writes its
    # revision annotation and its status: all as kube-controller-manager.
    apps.patch_namespaced_deployment_scale(
        "web", "shop", {"spec": {"replicas": 7}}, field_manager="kube-controller-manager"
    )
    apps.patch_namespaced_deployment(
        "web",
        "shop",
        {"metadata": {"annotations": {"deployment.kubernetes.io/desired-replicas": "7"}}},
        field_manager="kube-controller-manager",
    )
    apps.patch_namespaced_deployment_status(
        "web", "shop", {"status": {"observedGeneration": 99}}, field_manager="some-operator"
    )
    # Autonomic's /scale entry owned only spec.replicas, which the HPA's write took: a
    # real API server drops the entry, as the fake does.
    assert _managers(rig, "Deployment", "shop", "web") >= {
        ("kube-controller-manager", "scale"),
        ("kube-controller-manager", ""),
        ("some-operator", "status"),
    }
    rig.clock.advance(60)
    (again,) = _surge(rig)
    assert again.outcome == "decided", again.message
    assert len(rig.decisions_of(SURGE)) == 2


def _uncordon(rig: KubeRig, name: str, manager: str) -> Any:
    return client.CoreV1Api(rig.api_client).patch_node(
        name, {"spec": {"unschedulable": None}}, field_manager=manager
    )


def _cordoned_and_verified(rig: KubeRig) -> DecisionRecord:
    """Autonomic cordons node-2 for disk pressure; the cordon is verified."""
    seed_nodes(rig, 4, disk_pressure={"node-2": rig.clock.now() - 11 * 60})
    (first,) = [h for h in rig.cycle() if h.runbook == "disk-pressure-cordon"]
    assert first.outcome == "decided"
    assert get_obj(rig.server.store, "Node", None, "node-2")["spec"]["unschedulable"] is True
    rig.run(2 * 60)
    (decision,) = rig.decisions_of("disk-pressure-cordon")
    record = rig.ledger.get_decision(decision.id)
    assert record is not None and record.status == "verified"
    return record


def _pressure_back(rig: KubeRig) -> None:
    """The kubelet writes node-2's status: DiskPressure again, held 11 minutes."""
    client.CoreV1Api(rig.api_client).patch_node_status(
        "node-2", {"status": {"phase": "Running"}}, field_manager="kubelet"
    )
    assert ("kubelet", "status") in _managers(rig, "Node", None, "node-2")
    back = rfc3339(rig.clock.now() - 11 * 60)
    rig.server.store.modify(
        "Node",
        None,
        "node-2",
        lambda n: n["status"]["conditions"][1].update(lastTransitionTime=back),
    )


def _cordons(rig: KubeRig) -> list[Handled]:
    return [h for h in rig.cycle() if h.runbook == "disk-pressure-cordon"]


def _cordoned_then_pressure_again(rig: KubeRig, uncordoned_by: str) -> list[Handled]:
    """Autonomic cordons node-2 for disk pressure (verified); two hours later (the
    runbook's cooldown) ``uncordoned_by`` uncordons it, and Autonomic's next cycle sees
    it schedulable; the kubelet writes its status, the pressure back, held 11 minutes.
    What the runbook does a minute after the uncordon."""
    _cordoned_and_verified(rig)
    rig.clock.advance(2 * 3600)
    _uncordon(rig, "node-2", uncordoned_by)
    # A bare uncordon: no writer, no time (but the kubelet's status entry).
    assert _managers(rig, "Node", None, "node-2") <= {("kubelet", "status")}
    rig.cycle()
    _pressure_back(rig)
    rig.clock.advance(60)
    return _cordons(rig)


def test_a_person_uncordoning_the_node_after_ours_is_not_fought(rig: KubeRig) -> None:
    (again,) = _cordoned_then_pressure_again(rig, "kubectl-uncordon")
    assert (again.outcome, again.reason_code) == ("denied", "HumanRecentlyChanged")
    assert "changed Node/node-2 1m ago, after our last action on it" in again.message
    assert not get_obj(rig.server.store, "Node", None, "node-2")["spec"].get("unschedulable")


def test_a_bare_uncordon_by_the_cluster_s_own_is_not_told_from_a_person_s(
    rig: KubeRig,
) -> None:
    """Uncordoned by a controller the config names as the cluster's own (a node
    autoscaler, say): a bare uncordon records no writer, so nothing says it was not a
    person. It holds the runbook as a person's does (a known limit, in the docs)."""
    rig.cluster.cluster_managers |= {"node-autoscaler"}
    (again,) = _cordoned_then_pressure_again(rig, "node-autoscaler")
    assert (again.outcome, again.reason_code) == ("denied", "HumanRecentlyChanged")
    assert not get_obj(rig.server.store, "Node", None, "node-2")["spec"].get("unschedulable")


def test_the_uncordon_seen_before_a_restart_holds_after_it_at_the_same_time(
    tmp_path: Path,
) -> None:
    """A person uncordons the node Autonomic cordoned; Autonomic sees it at its next
    cycle and restarts (a new process, what it kept in memory gone). Five minutes later,
    the pressure back, the new process holds the runbook, dating the uncordon from the
    first sighting, kept in the ledger: not from its own first look."""
    replicas = Replicas(tmp_path, f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        first = replicas.start()
        _cordoned_and_verified(first)
        first.clock.advance(2 * 3600)
        _uncordon(first, "node-2", "kubectl-uncordon")
        seen = first.clock.now()
        first.cycle()
        (key,) = first.ledger.guard_keys(OBSERVED_PREFIX)
        stored, version = first.ledger.guard(key)
        assert stored["at"] == seen
        replicas.die(first)
        second = replicas.start(at=seen + 5 * 60)
        _pressure_back(second)
        (again,) = _cordons(second)
        assert (again.outcome, again.reason_code) == ("denied", "HumanRecentlyChanged")
        assert "changed Node/node-2 5m ago, after our last action on it" in again.message
        assert second.ledger.guard(key) == (stored, version)  # not seen afresh
        assert not get_obj(second.server.store, "Node", None, "node-2")["spec"].get("unschedulable")
        assert len(second.decisions_of("disk-pressure-cordon")) == 1
    finally:
        replicas.close()


def test_a_cordon_autonomic_undid_itself_is_not_someone_else_s_uncordon(rig: KubeRig) -> None:
    """A person asks Autonomic to undo its cordon (``autonomic undo``): Autonomic
    uncordons the node, also with a write that only removes the field. That is its own
    undo, not someone else's change: the pressure back after the cooldown, the runbook
    decides to cordon the node again (asking first, its last run having been undone at a
    person's request), and does once approved."""
    record = _cordoned_and_verified(rig)
    request(rig.ledger, record, actor="alice", reason="disk freed", at=rig.clock.now())
    rig.clock.advance(30)
    rig.cycle()
    assert [i.status for i in rig.ledger.intents()] == ["undone"]
    assert not get_obj(rig.server.store, "Node", None, "node-2")["spec"].get("unschedulable")
    rig.clock.advance(2 * 3600)
    _pressure_back(rig)
    (again,) = _cordons(rig)
    assert (again.outcome, again.route) == ("decided", "ask"), again.message
    assert rig.approve_pending() == 1
    rig.clock.advance(30)
    rig.cycle()
    assert get_obj(rig.server.store, "Node", None, "node-2")["spec"]["unschedulable"] is True
    assert rig.ledger.guard_keys(OBSERVED_PREFIX) == []


def test_a_new_node_under_the_name_is_not_uncordoned_by_anyone(rig: KubeRig) -> None:
    """The node Autonomic cordoned is deleted and a new one joins under its name,
    schedulable (another uid): nobody uncordoned anything, and the runbook cordons the
    new node when its disk fills, after the cooldown."""
    _cordoned_and_verified(rig)
    old_uid = get_obj(rig.server.store, "Node", None, "node-2")["metadata"]["uid"]
    delete_obj(rig.server.store, "Node", None, "node-2")
    rig.clock.advance(2 * 3600)
    seed_nodes(rig, 4, disk_pressure={"node-2": rig.clock.now() - 11 * 60})
    assert get_obj(rig.server.store, "Node", None, "node-2")["metadata"]["uid"] != old_uid
    (again,) = _cordons(rig)
    assert again.outcome == "decided", again.message
    assert get_obj(rig.server.store, "Node", None, "node-2")["spec"]["unschedulable"] is True
    assert rig.ledger.guard_keys(OBSERVED_PREFIX) == []


def _stuck(rig: KubeRig, name: str) -> None:
    """``name`` turns not Ready now (Running, its Ready condition False)."""
    rig.server.store.modify(
        "Pod",
        "shop",
        name,
        lambda pod: pod["status"]["conditions"][1].update(
            status="False", lastTransitionTime=rfc3339(rig.clock.now())
        ),
    )


def _pod_restarted_then_another_stuck(
    rig: KubeRig, manager: str, wait: float = 28 * 60
) -> list[Handled]:
    """restart-stuck-pods deletes one stuck pod of web (verified); three minutes later
    ``manager`` writes the Deployment and another of its pods gets stuck; ``wait`` later
    (by default 28 minutes: past the 15-minute heldFor and the runbook's 30-minute
    cooldown of our deletion, within 30 minutes of that write) what the runbook does
    about the second pod. A replacement pod has a new name, so "our last action" must be
    read on the workload, as the change is."""
    seed_web(rig, started_at=rig.clock.now() - 7200)
    first = rig.server.store.objects("Pod", "shop")[1]["metadata"]["name"]
    _stuck(rig, first)
    controller = Controller(rig.server, rig.clock, lambda _c: "Ready", heal=False)
    rig.controllers.append(lambda: controller.reconcile("shop", "web"))
    rig.run(16 * 60)
    (decision,) = rig.decisions_of("restart-stuck-pods")
    rig.run(3 * 60)
    assert rig.ledger.get_decision(decision.id).status == "verified"  # type: ignore[union-attr]
    client.AppsV1Api(rig.api_client).patch_namespaced_deployment(
        "web",
        "shop",
        {"metadata": {"annotations": {"team/on-it": "alice"}}},
        field_manager=manager,
    )
    second = next(
        p["metadata"]["name"]
        for p in rig.server.store.objects("Pod", "shop")
        if p["metadata"]["name"] != first
    )
    _stuck(rig, second)
    rig.clock.advance(wait)
    return [h for h in rig.cycle() if h.runbook == "restart-stuck-pods"]


def test_a_person_editing_the_workload_after_our_pod_restart_holds_the_next(
    rig: KubeRig,
) -> None:
    (again,) = _pod_restarted_then_another_stuck(rig, "kubectl-edit")
    assert (again.outcome, again.reason_code) == ("denied", "HumanRecentlyChanged")
    assert "changed Deployment/shop/web 28m ago, after our last action on it or its pods" in (
        again.message
    )
    assert len(rig.decisions_of("restart-stuck-pods")) == 1


def test_another_pod_of_the_workload_waits_for_the_cooldown(rig: KubeRig) -> None:
    """The cooldown is the workload's: the second pod, 16 minutes after it got stuck and
    under 30 after our deletion of its sibling, waits (it was a new target by name)."""
    (again,) = _pod_restarted_then_another_stuck(rig, "kube-controller-manager", 16 * 60)
    assert (again.outcome, again.reason_code) == ("denied", "Cooldown")
    assert "which shares" in again.message and "the cooldown is 30m" in again.message
    assert len(rig.decisions_of("restart-stuck-pods")) == 1


def test_a_controller_writing_the_workload_after_our_pod_restart_does_not(
    rig: KubeRig,
) -> None:
    (again,) = _pod_restarted_then_another_stuck(rig, "kube-controller-manager")
    assert again.outcome == "decided", again.message
    assert len(rig.decisions_of("restart-stuck-pods")) == 2


def _cordoned_then_uncordoned_while_verified(rig: KubeRig, manager: str) -> Any:
    """Autonomic cordons node-2 for disk pressure; ``manager`` uncordons it 10s later,
    inside the verification's settle. The decision as the verification leaves it."""
    seed_nodes(rig, 4, disk_pressure={"node-2": rig.clock.now() - 11 * 60})
    (first,) = [h for h in rig.cycle() if h.runbook == "disk-pressure-cordon"]
    assert first.outcome == "decided"
    rig.clock.advance(10)
    _uncordon(rig, "node-2", manager)
    rig.run(6 * 60)
    (decision,) = rig.decisions_of("disk-pressure-cordon")
    return rig.ledger.get_decision(decision.id)


@pytest.mark.parametrize("manager", ["kubectl-uncordon", "kube-controller-manager"])
def test_a_cordon_whose_check_fails_is_never_undone_over_the_uncordon(
    rig: KubeRig, manager: str
) -> None:
    """disk-pressure-cordon's one check, nodeCordoned, fails only when the node was
    uncordoned since: the undo (an uncordon) then writes nothing, whoever uncordoned it.
    A bare uncordon records no writer (as on a real API server), so for a person as for
    the cluster's own it is the value that says so: the node no longer holds what the
    cordon wrote. The failure is escalated; the node stays as they left it."""
    decision = _cordoned_then_uncordoned_while_verified(rig, manager)
    assert decision.status == "failed"
    (undo,) = [f for f in rig.feedback(decision.id) if f[0] == "verification"]
    assert undo == ("verification", "wrong")
    assert [i.status for i in rig.ledger.intents()] == ["applied"]
    refused = [
        f["detail"].get("undo_refused")
        for f in rig.ledger.feedback_for(decision.id)
        if f["kind"] == "verification"
    ]
    said = (
        "spec.unschedulable is now False, not the True Autonomic wrote, so someone else "
        "has changed it since; leaving their change in place"
    )
    assert len(refused) == 1 and said in refused[0]
    assert decision.id in [d for d, _ in rig.channel.escalated]
    assert not get_obj(rig.server.store, "Node", None, "node-2")["spec"].get("unschedulable")
    # Our cordon and their uncordon; no third write (an undo).
    assert rig.writes() == [Write("PATCH", "nodes", "", "node-2", False)] * 2
