"""A canary rollback verdict, through the real engine and Kubernetes adapter against the
fake API server, when the canary is re-deployed with another release before the
rollback is carried out: the rollback of the release judged bad must write nothing to
the new one (rolling it back would put the bad release back)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.settings import RoutingSettings
from remediation.ports import ObjectRef
from remediation.schema import CANARY_OF
from remediation.signals import canary_signal
from tests.fakekube.store import RESOURCES
from tests.integration.remediation.rig import (
    Controller,
    KubeRig,
    build_rig,
    get_obj,
    seed_web,
)

CANARY = ObjectRef("Deployment", "web-canary", "shop")
JUDGED = "shop/web:2"


@pytest.fixture
def asking(tmp_path: Path) -> Iterator[KubeRig]:
    """Routed by the daemon's default thresholds: a new canary-rollback runbook asks a
    person (0.9949 x its prior 0.75 is below 0.95)."""
    defaults = RoutingSettings()
    built = build_rig(tmp_path, auto=defaults.auto, ask=defaults.ask)
    yield built
    built.close()


def _canary(rig: KubeRig, images: tuple[str, ...] = ("shop/web:1", JUDGED)) -> None:
    """``web-canary`` at revision ``len(images)`` running the last of ``images``, labelled
    as web's canary, its Deployment controller played between engine cycles."""
    seed_web(rig, name="web-canary", replicas=1, images=images)
    rig.server.store.modify(
        "Deployment",
        "shop",
        "web-canary",
        lambda d: d["metadata"]["labels"].update({CANARY_OF: "web"}),
    )


def _verdict(rig: KubeRig) -> None:
    """The rollback verdict on release shop/web:2 at revision 2, as the canary loop sends
    it (the judged revision and images on the signal)."""
    rig.engine.submit(
        [
            canary_signal(
                verdict="rollback",
                target=CANARY,
                confidence=0.9949,
                at=rig.clock.now(),
                revision=2,
                evidence={"sentence": "p99 latency regressed", "images": [JUDGED]},
                run=JUDGED,
            )
        ]
    )


def _rolled_out_again(rig: KubeRig) -> None:
    """A fix, shop/web:3, rolled out on the canary: revision 3."""
    rig.server.store.modify(
        "Deployment",
        "shop",
        "web-canary",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="shop/web:3"),
    )
    Controller(rig.server, rig.clock, lambda _c: "Ready").reconcile("shop", "web-canary")


def _recreated(rig: KubeRig) -> None:
    """The canary deleted (with its ReplicaSets and pods) and created again with the fix,
    shop/web:3: revision 1."""
    store = rig.server.store
    for kind in ("Pod", "ReplicaSet", "Deployment"):
        rt = next(r for r in RESOURCES if r.kind == kind)
        for obj in store.objects(kind, "shop"):
            if obj["metadata"]["name"].startswith("web-canary"):
                store.delete(rt, "shop", obj["metadata"]["name"])
    _canary(rig, images=("shop/web:3",))


def _image(rig: KubeRig) -> tuple[str, int]:
    canary = get_obj(rig.server.store, "Deployment", "shop", "web-canary")
    revision = int(canary["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    return canary["spec"]["template"]["spec"]["containers"][0]["image"], revision


MOVED_ON: dict[str, tuple[Callable[[KubeRig], None], str]] = {
    "rolled-out-again": (
        _rolled_out_again,
        "is at revision 3 (shop/web:3), not revision 2 (shop/web:2) the verdict judged",
    ),
    "recreated": (
        _recreated,
        "is at revision 1 (shop/web:3), not revision 2 (shop/web:2) the verdict judged",
    ),
}


@pytest.mark.parametrize("how", sorted(MOVED_ON))
def test_a_rollback_handed_on_after_the_canary_moved_on_writes_nothing(
    rig: KubeRig, how: str
) -> None:
    """The verdict was handed on (the canary loop saw the judged release), and the canary
    was re-deployed before the engine planned it. Before, the rollback was planned on the
    new release: rolled back from the fix to the release judged bad (or, re-created at
    revision 1, skipped as NoPreviousRevision)."""
    _canary(rig)
    moved_on, said = MOVED_ON[how]
    _verdict(rig)
    moved_on(rig)
    before = _image(rig)
    (handled,) = [h for h in rig.cycle() if h.runbook == "canary-rollback"]
    assert (handled.outcome, handled.reason_code) == ("skipped", "CanaryMovedOn"), handled
    assert said in handled.message
    rig.run(120)
    assert rig.writes() == []  # nothing written to the new canary
    assert _image(rig) == before
    assert rig.decisions_of("canary-rollback") == []  # no decision: nothing to count


@pytest.mark.parametrize("how", sorted(MOVED_ON))
def test_a_rollback_asked_then_approved_after_the_canary_moved_on_writes_nothing(
    asking: KubeRig, how: str
) -> None:
    """The runbook's rollback was asked of a person, and the canary re-deployed while the
    question waited; the approval writes nothing, and the decision is closed without
    running, neither right nor wrong. Before, the run was started and refused at its
    write (another revision; re-created, no revision to roll back to): closed as failed,
    escalated, and, re-created, its verification counted wrong."""
    rig = asking
    _canary(rig)
    moved_on, said = MOVED_ON[how]
    _verdict(rig)
    (handled,) = [h for h in rig.cycle() if h.runbook == "canary-rollback"]
    assert (handled.outcome, handled.route) == ("decided", "ask"), handled
    moved_on(rig)
    before = _image(rig)
    assert rig.approve_pending() == 1
    rig.run(120)
    assert rig.writes() == []
    assert _image(rig) == before
    (decision,) = rig.decisions_of("canary-rollback")
    decision = rig.ledger.get_decision(decision.id) or decision
    feedback = rig.feedback(decision.id)
    assert decision.status == "superseded", (decision.status, feedback)
    # Closed with why, naming both releases; neither right nor wrong, nor escalated.
    assert feedback == [("answer", "approved"), ("execution", "superseded")], feedback
    (closed,) = [f for f in rig.ledger.feedback_for(decision.id) if f["kind"] == "execution"]
    assert closed["detail"]["reason"] == "CanaryMovedOn"
    assert said in closed["detail"]["why"] and "nothing was written" in closed["detail"]["why"]
    assert rig.ledger.intents() == []  # no run was started
