"""The object an incident was about, replaced under its name between the plan (or the
approval question) and the write, through the engine, the real client and the fake API
server.

A StatefulSet's pod comes back with its name and a new uid. The plan reads the pod the
incident names (its uid goes with the planned operation, ``planned_uid``); the write's
own read finds another: the step is refused (``ReplacedSincePlan``), nothing is written,
and the run is closed as not executed, neither right nor wrong."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.fakekube.store import RESOURCES
from tests.integration.remediation.rig import (
    RUNBOOKS,
    Controller,
    KubeRig,
    build_rig,
    rfc3339,
    seed_web,
)

RUNBOOK = "restart-stuck-pods"
REPLACED = "the object the incident was about was replaced"


@pytest.fixture
def asking(tmp_path: Path) -> Iterator[KubeRig]:
    """The rig with restart-stuck-pods alone, asking a person first (maxAutonomy: ask)."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = (RUNBOOKS / f"{RUNBOOK}.yaml").read_text()
    assert "maxAutonomy: auto" in text
    (folder / f"{RUNBOOK}.yaml").write_text(text.replace("maxAutonomy: auto", "maxAutonomy: ask"))
    built = build_rig(tmp_path, runbooks=(folder,))
    yield built
    built.close()


def uid_of(rig: KubeRig, kind: str, name: str) -> str | None:
    """The uid of ``kind`` shop/``name`` in the fake API server; None if there is none."""
    found = [o for o in rig.server.store.objects(kind, "shop") if o["metadata"]["name"] == name]
    return str(found[0]["metadata"]["uid"]) if found else None


def recreate(rig: KubeRig, kind: str, name: str, *, fresh_pod: bool = False) -> str:
    """``kind`` shop/``name`` deleted and created again under its name (a StatefulSet's
    controller, a GitOps tool replacing it); returns the new uid. ``fresh_pod``: the new
    pod's status is its own, as the kubelet reports it: started now, not Ready since now
    (a copy of the old pod's would say it had been stuck as long, an incident at once)."""
    rt = next(r for r in RESOURCES if r.kind == kind)
    old = copy.deepcopy(rig.server.store.get(rt, "shop", name))
    rig.server.store.delete(rt, "shop", name)
    for field in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        old["metadata"].pop(field, None)
    if fresh_pod:
        now = rfc3339(rig.clock.now())
        old["status"]["startTime"] = now
        for condition in old["status"]["conditions"]:
            condition.update(lastTransitionTime=now)
        old["status"]["conditions"][1]["status"] = "False"
    return str(rig.server.store.create(rt, "shop", old)["metadata"]["uid"])


def _pod_uid(rig: KubeRig, name: str) -> str | None:
    return uid_of(rig, "Pod", name)


def _recreate(rig: KubeRig, name: str) -> str:
    return recreate(rig, "Pod", name, fresh_pod=True)


def _stuck_pod_asked(rig: KubeRig) -> tuple[str, str]:
    """One of web's pods not Ready for 16 minutes: restart-stuck-pods asks to delete it.
    Returns the pod's name and the decision's id."""
    seed_web(rig, started_at=rig.clock.now() - 7200)
    stuck = rig.server.store.objects("Pod", "shop")[1]["metadata"]["name"]

    def wedge(pod: dict[str, Any]) -> None:
        pod["status"]["conditions"][1].update(
            status="False", lastTransitionTime=rfc3339(rig.clock.now())
        )

    rig.server.store.modify("Pod", "shop", stuck, wedge)
    controller = Controller(rig.server, rig.clock, lambda _c: "Ready", heal=False)
    rig.controllers.append(lambda: controller.reconcile("shop", "web"))
    rig.run(16 * 60)
    (decision,) = rig.decisions_of(RUNBOOK)
    assert decision.route == "ask" and decision.status == "asked"
    (operation,) = decision.proposal["operations"]
    assert operation["op"] == "delete_pod" and operation["target"]["name"] == stuck
    # The pod the incident named, as the plan read it.
    assert operation["planned_uid"] == _pod_uid(rig, stuck)
    return stuck, decision.id


def _explain(tmp_path: Path, decision: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        assert main(["explain", decision[:12], "--ledger", ledger]) == 0
    return out.getvalue()


def test_an_approval_for_a_pod_is_not_spent_on_its_replacement(
    asking: KubeRig, tmp_path: Path
) -> None:
    # The pod is replaced (same name, new uid, not Ready either) while the question is
    # open; then a person approves. Before, the stored plan named the pod by name only:
    # the executor read the new pod, took its uid for the write's, and deleted it, a pod
    # the decision was never about, and a failure would have counted against the
    # runbook. Now the step is refused: nothing is written, the new pod is left running,
    # the run closed as not executed (superseded, no verdict) and the reason is shown.
    rig = asking
    stuck, decision_id = _stuck_pod_asked(rig)
    new_uid = _recreate(rig, stuck)
    assert rig.approve_pending() == 1
    rig.run(60)
    assert rig.writes() == []  # no DELETE of the new pod
    assert _pod_uid(rig, stuck) == new_uid
    decision = rig.ledger.get_decision(decision_id)
    assert decision is not None and decision.status == "superseded"
    execution = rig.ledger.execution(decision.incident_key or decision.id)
    assert execution is not None and execution["status"] == "superseded"
    assert rig.ledger.intents() == []  # nothing recorded as written, or to settle
    feedback = rig.feedback(decision_id)
    assert ("execution", "superseded") in feedback
    assert not [f for f in feedback if f[0] == "verification"]  # neither right nor wrong
    (closing,) = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "execution"]
    why = closing["detail"]["why"]
    assert REPLACED in why and new_uid in why and "nothing was written" in why
    assert REPLACED in _explain(tmp_path, decision_id)
    # Nothing is held for it: no run in flight on web's pods, nothing counted.
    state, _ = rig.engine.guard_state()
    assert state.in_flight == () and state.actions == ()


def _stuck_for_fourteen_minutes(rig: KubeRig) -> str:
    """One of web's pods not Ready for 14 minutes, a minute short of restart-stuck-pods'
    bar; returns its name."""
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
    rig.run(14 * 60)
    return stuck


def test_a_pod_replaced_after_planning_in_the_same_cycle_is_not_deleted(
    tmp_path: Path,
) -> None:
    # The shipped runbook acts at once (auto): the pod is replaced between the cycle's
    # snapshot, which planned the delete, and the executor's read before writing. Before,
    # that read's uid went with the delete, and the new pod was deleted.
    rig = build_rig(tmp_path)
    try:
        stuck = _stuck_for_fourteen_minutes(rig)
        assert rig.decisions_of(RUNBOOK) == []  # not stuck for 15 minutes yet
        api = rig.cluster.operations.api
        real_read = api.read
        new_uid: list[str] = []

        def read(kind: str, *args: Any, **kw: Any) -> Any:
            if kind == "Pod" and not new_uid:  # the executor's read before writing
                new_uid.append(_recreate(rig, stuck))
            return real_read(kind, *args, **kw)

        api.read = read  # type: ignore[method-assign]
        rig.run(2 * 60)
        (decision,) = rig.decisions_of(RUNBOOK)
        assert decision.route == "auto" and new_uid
        assert rig.writes() == []
        assert _pod_uid(rig, stuck) == new_uid[0]
        fresh = rig.ledger.get_decision(decision.id)
        assert fresh is not None and fresh.status == "superseded"
        assert REPLACED in _explain(tmp_path, decision.id)
    finally:
        rig.close()


def test_a_pod_replaced_between_the_writes_read_and_its_request_is_not_held_against_the_runbook(
    tmp_path: Path,
) -> None:
    # The plan and the executor's snapshot both read the pod the incident named; it is
    # replaced just before the writer's own read, so the delete names the old uid and the
    # API server refuses it (TargetReplaced): nothing written, the new pod left running.
    # The run fails and is escalated like any refused write, but, as for a replacement
    # seen before the write (ReplacedSincePlan), the failure says nothing about whether
    # the runbook proposed the right thing: it is recorded inconclusive and not counted in
    # the runbook's record (it was counted "wrong").
    rig = build_rig(tmp_path)
    try:
        stuck = _stuck_for_fourteen_minutes(rig)
        api = rig.cluster.operations.api
        real_read = api.read
        pod_reads: list[str] = []
        new_uid: list[str] = []

        def read(kind: str, *args: Any, **kw: Any) -> Any:
            if kind == "Pod":
                if pod_reads and not new_uid:  # the snapshot is taken: the writer's read
                    new_uid.append(_recreate(rig, stuck))
                pod_reads.append(kind)
            return real_read(kind, *args, **kw)

        api.read = read  # type: ignore[method-assign]
        rig.run(2 * 60)
        (decision,) = rig.decisions_of(RUNBOOK)
        assert decision.route == "auto" and new_uid
        assert _pod_uid(rig, stuck) == new_uid[0]  # the new pod is left running
        (intent,) = rig.ledger.intents()
        assert (intent.result or {}).get("reason") == "TargetReplaced"
        fresh = rig.ledger.get_decision(decision.id)
        assert fresh is not None and fresh.status == "failed"
        feedback = rig.ledger.feedback_for(decision.id)
        assert [f["outcome"] for f in feedback if f["kind"] == "verification"] == ["inconclusive"]
        assert [v for _, _, v, _ in rig.ledger.outcomes(decision.decision_type)] == []
    finally:
        rig.close()
