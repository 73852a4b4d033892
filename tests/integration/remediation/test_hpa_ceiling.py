"""``hpa-maxed-out-raise`` end to end: a KubeHpaMaxedOut alert through the Alertmanager
webhook, the real engine, executor and Kubernetes adapter against the fake API server, on
a fake clock, through a person's Approve. The fake runs no HPA controller: the test sets
the HPA's status (the replicas it runs and wants) as the controller would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.ledger import DecisionRecord
from tests.fakekube.seed import seed_hpa
from tests.integration.remediation.rig import (
    RUNBOOKS,
    KubeRig,
    Write,
    build_rig,
    get_obj,
    rfc3339,
    seed_web,
)

RUNBOOK = "hpa-maxed-out-raise"
NOTIFY = "hpa-maxed-out-notify"
RAISE = Write("PATCH", "horizontalpodautoscalers", "shop", "web", False)
UNSCHEDULABLE = "kube_pod_status_unschedulable"


def maxed_out(rig: KubeRig, *, fingerprint: str = "c0f1") -> Any:
    return {
        "status": "firing",
        "labels": {
            "alertname": "KubeHpaMaxedOut",
            "severity": "warning",
            "namespace": "shop",
            "horizontalpodautoscaler": "web",
            "job": "kube-state-metrics",
        },
        "annotations": {"description": "HPA shop/web has been running at max replicas."},
        "startsAt": rfc3339(rig.clock.now() - 900),
        "fingerprint": fingerprint,
    }


def hpa_status(rig: KubeRig, current: int, desired: int | None = None) -> None:
    """What the HPA controller would write: the replicas it runs and wants."""
    status = {"currentReplicas": current, "desiredReplicas": desired or current}
    rig.server.store.modify(
        "HorizontalPodAutoscaler", "shop", "web", lambda h: h.update(status=status)
    )


def ceiling(rig: KubeRig) -> int:
    return int(
        get_obj(rig.server.store, "HorizontalPodAutoscaler", "shop", "web")["spec"]["maxReplicas"]
    )


def seed(
    rig: KubeRig, *, max_replicas: int = 4, current: int = 4, second_label: bool = True
) -> None:
    """Deployment shop/web (4 replicas, opted in, and into raises) and its HPA, at its
    ceiling; no pod waits for room."""
    seed_web(rig, replicas=4)
    if second_label:
        rig.server.store.modify(
            "Deployment",
            "shop",
            "web",
            lambda d: d["metadata"]["labels"].update({"autonomic.dev/raise-hpa-max": "true"}),
        )
    seed_hpa(rig.server.store, "web", target="web", namespace="shop", max_replicas=max_replicas)
    hpa_status(rig, current)
    rig.promql.set(UNSCHEDULABLE, 0.0)


def reload(rig: KubeRig, decision: DecisionRecord) -> DecisionRecord:
    fresh = rig.ledger.get_decision(decision.id)
    assert fresh is not None
    return fresh


def test_the_ceiling_is_raised_after_approval_and_verified(rig: KubeRig) -> None:
    seed(rig)
    assert rig.post_alerts([maxed_out(rig)]) == 200
    handled = {h.runbook: h for h in rig.cycle()}
    # one message for the alert: the question; the notify runbook leaves this one alone
    assert (handled[RUNBOOK].outcome, handled[RUNBOOK].route) == ("decided", "ask")
    assert rig.decisions_of(NOTIFY) == []
    (decision,) = rig.decisions_of(RUNBOOK)
    assert decision.subject == "Deployment/shop/web"
    assert decision.proposal["diff"] == [
        "HorizontalPodAutoscaler shop/web: maxReplicas 4 -> 6 (scales Deployment shop/web, "
        "at 4 replicas; by 50%, at least +2, at most 50)"
    ]
    guards = {g["name"]: g for g in decision.evidence["guards"]}
    assert guards["promql (no pod in the cluster is waiting for room on a node)"]["seen"] == "0"
    assert rig.channel.asked == [decision.id]
    assert rig.writes() == [] and ceiling(rig) == 4  # nothing before the Approve

    assert rig.approve_pending() == 1
    rig.run(60)
    assert rig.writes() == [RAISE] and ceiling(rig) == 6
    (intent,) = rig.ledger.intents()
    # the ledger keeps the ceiling found (for the undo) and the one written
    assert intent.snapshot["maxReplicas"] == 4
    assert intent.result is not None and intent.result["after"] == {"maxReplicas": 6}

    hpa_status(rig, 5)  # the HPA adds a pod, and the load fits under the new ceiling
    rig.run(6 * 60)
    assert reload(rig, decision).status == "verified"
    assert rig.channel.threads[-1][1].startswith("verified:")
    assert rig.writes() == [RAISE]


def test_a_ceiling_a_person_moved_while_asked_is_not_written_over(rig: KubeRig) -> None:
    seed(rig)
    rig.post_alerts([maxed_out(rig)])
    rig.cycle()
    rig.server.store.modify(
        "HorizontalPodAutoscaler", "shop", "web", lambda h: h["spec"].update(maxReplicas=8)
    )
    rig.approve_pending()
    rig.run(60)
    assert ceiling(rig) == 8 and rig.writes() == []
    (decision,) = rig.decisions_of(RUNBOOK)
    assert "changed since" in " ".join(str(f) for f in rig.ledger.feedback_for(decision.id))


def test_a_stale_alert_and_a_cluster_without_room_raise_nothing(
    rig: KubeRig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(rig, current=3)  # the HPA runs 3 of its 4: the alert is stale
    rig.post_alerts([maxed_out(rig)])
    (handled,) = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert (handled.outcome, handled.reason_code) == ("skipped", "NotMaxedOut")
    capsys.readouterr()
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert main(["why", "Deployment/shop/web", "--ledger", ledger]) == 0
    assert f"{RUNBOOK}  skipped NotMaxedOut" in capsys.readouterr().out

    hpa_status(rig, 4)
    rig.promql.set(UNSCHEDULABLE, 3.0)  # three pods already wait for room on a node
    rig.post_alerts([maxed_out(rig, fingerprint="c0f2")])
    (handled,) = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert (handled.outcome, handled.reason_code) == ("skipped", "PreconditionFailed")
    assert rig.decisions_of(RUNBOOK) == [] and rig.writes() == []


def test_a_failed_raise_is_escalated_and_undone_only_by_a_runbook_that_says_so(
    tmp_path: Path,
) -> None:
    """The shipped runbook never lowers the ceiling under load (undo: false); a copy with
    undo: true puts back the ceiling it found."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = (RUNBOOKS / f"{RUNBOOK}.yaml").read_text()
    (folder / f"{RUNBOOK}.yaml").write_text(text.replace("undo: false", "undo: true"))
    rig = build_rig(tmp_path, runbooks=[folder])
    try:
        seed(rig)
        rig.post_alerts([maxed_out(rig)])
        rig.cycle()
        rig.approve_pending()
        rig.run(60)
        assert ceiling(rig) == 6
        hpa_status(rig, 6)  # the load fills the new ceiling too
        rig.run(20 * 60, step=60)
        (decision,) = rig.decisions_of(RUNBOOK)
        assert reload(rig, decision).status == "undone"
        assert ceiling(rig) == 4
        (why,) = [w for d, w in rig.channel.escalated if d == decision.id]
        assert "HorizontalPodAutoscaler web at 6 replicas (wants 6) of maxReplicas 6" in why
    finally:
        rig.close()
