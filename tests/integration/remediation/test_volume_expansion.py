"""``pvc-filling-up-expand`` end to end: a KubePersistentVolumeFillingUp alert through the
Alertmanager webhook, the real engine, executor and Kubernetes adapter against the fake
API server, on a fake clock. The fake runs no volume resizer: the test says when a
claim's capacity follows its request (``finish_resize``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.ledger import DecisionRecord
from tests.fakekube.seed import finish_resize, seed_claim, seed_storage_class
from tests.integration.remediation.rig import (
    ENABLED,
    RUNBOOKS,
    KubeRig,
    Write,
    build_rig,
    get_obj,
    rfc3339,
)

RUNBOOK = "pvc-filling-up-expand"
EXPAND = Write("PATCH", "persistentvolumeclaims", "shop", "data-db-0", False)
FREE = "kubelet_volume_stats_available_bytes"


def filling_up(rig: KubeRig, *, namespace: str = "shop", fingerprint: str = "b10c") -> Any:
    """The alert as kube-prometheus raises it from the kubelet's volume metrics."""
    return {
        "status": "firing",
        "labels": {
            "alertname": "KubePersistentVolumeFillingUp",
            "severity": "critical",
            "namespace": namespace,
            "persistentvolumeclaim": "data-db-0",
            "node": "node-1",
            "job": "kubelet",
            "metrics_path": "/metrics",
            "service": "kube-prometheus-stack-kubelet",
        },
        "annotations": {"summary": "PersistentVolume is filling up."},
        "startsAt": rfc3339(rig.clock.now() - 300),
        "fingerprint": fingerprint,
    }


def seed_volume(
    rig: KubeRig, *, expandable: bool = True, namespace: str = "shop", size: str = "10Gi"
) -> None:
    seed_storage_class(rig.server.store, "fast", allow_expansion=expandable)
    seed_claim(
        rig.server.store,
        "data-db-0",
        namespace=namespace,
        size=size,
        storage_class="fast",
        labels=dict(ENABLED),
    )


def sizes(rig: KubeRig, namespace: str = "shop") -> tuple[str, str]:
    claim = get_obj(rig.server.store, "PersistentVolumeClaim", namespace, "data-db-0")
    return claim["spec"]["resources"]["requests"]["storage"], claim["status"]["capacity"]["storage"]


def reload(rig: KubeRig, decision: DecisionRecord) -> DecisionRecord:
    fresh = rig.ledger.get_decision(decision.id)
    assert fresh is not None
    return fresh


def only(rig: KubeRig) -> DecisionRecord:
    (decision,) = rig.decisions_of(RUNBOOK)
    return decision


def test_a_filling_volume_is_expanded_after_approval_and_verified(rig: KubeRig) -> None:
    seed_volume(rig)
    rig.promql.set(FREE, 0.02)  # 2% free
    assert rig.post_alerts([filling_up(rig)]) == 200
    (handled,) = [h for h in rig.cycle() if h.outcome == "decided"]
    assert (handled.runbook, handled.route) == (RUNBOOK, "ask")  # maxAutonomy: ask
    decision = only(rig)
    assert decision.subject == "PersistentVolumeClaim/shop/data-db-0"
    assert decision.proposal["diff"] == [
        "PersistentVolumeClaim shop/data-db-0: storage 10Gi -> 15Gi (x1.5, max 500Gi; "
        "StorageClass fast; a volume cannot shrink, so there is no undo)"
    ]
    assert decision.proposal["undo_on_failure"] is False
    assert rig.writes() == []

    assert rig.approve_pending() == 1
    rig.run(60)
    assert rig.writes() == [EXPAND]
    assert sizes(rig) == ("15Gi", "10Gi")  # asked for; the volume has not grown yet
    rig.run(5 * 60)
    assert reload(rig, decision).status == "verifying"  # capacity still 10Gi

    finish_resize(rig.server.store, "data-db-0", namespace="shop")
    rig.promql.set(FREE, 0.35)  # 10Gi of 98% used is 35% of 15Gi free
    rig.run(3 * 60)
    assert reload(rig, decision).status == "verified"
    assert sizes(rig) == ("15Gi", "15Gi")
    assert rig.channel.threads[-1][1].startswith("verified:")

    # Alertmanager sends it again, and a new incident of it fires within the cooldown:
    # nothing is expanded twice.
    assert rig.post_alerts([filling_up(rig)]) == 200
    rig.run(60)
    later = filling_up(rig, fingerprint="b10d")
    assert rig.post_alerts([later]) == 200
    rig.run(60)
    assert rig.writes() == [EXPAND]
    assert "Cooldown" in {h.reason_code for h in rig.handled if h.outcome == "denied"}


def test_a_volume_that_does_not_grow_fails_and_is_escalated_with_no_undo(rig: KubeRig) -> None:
    seed_volume(rig)
    rig.promql.set(FREE, 0.02)
    rig.post_alerts([filling_up(rig)])
    rig.cycle()
    rig.approve_pending()
    rig.run(60)
    assert rig.writes() == [EXPAND]

    # the volume grew, but the filesystem never does (no pod mounts it online)
    def pending(claim: Any) -> None:
        claim["status"]["conditions"] = [{"type": "FileSystemResizePending", "status": "True"}]

    rig.server.store.modify("PersistentVolumeClaim", "shop", "data-db-0", pending)
    rig.run(25 * 60, step=60)
    decision = reload(rig, only(rig))
    assert decision.status == "failed"
    feedback = rig.feedback(decision.id)
    assert ("verification", "wrong") in feedback and ("escalation", "escalated") in feedback
    assert decision.id in [d for d, _ in rig.channel.escalated]
    (why,) = [w for d, w in rig.channel.escalated if d == decision.id]
    assert "FileSystemResizePending" in why
    assert "not undone: the runbook's onFailure.undo is false, so what it wrote stays" in why
    assert [i.status for i in rig.ledger.intents()] == ["applied"]  # not undone
    assert rig.ledger.execution(decision.incident_key or "")["status"] == "escalated"  # type: ignore[index]
    assert rig.writes() == [EXPAND]  # no undo write, and not tried again
    assert sizes(rig) == ("15Gi", "10Gi")


def test_a_class_that_does_not_allow_expansion_is_a_reasoned_skip(rig: KubeRig) -> None:
    seed_volume(rig, expandable=False)
    rig.post_alerts([filling_up(rig)])
    (handled,) = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert (handled.outcome, handled.reason_code) == ("skipped", "ExpansionNotAllowed")
    assert rig.decisions_of(RUNBOOK) == [] and rig.writes() == []


def test_a_claim_in_an_excluded_namespace_is_left_alone(rig: KubeRig) -> None:
    seed_volume(rig, namespace="kube-system")
    rig.post_alerts([filling_up(rig, namespace="kube-system")])
    (handled,) = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert (handled.outcome, handled.reason_code) == ("no-match", "NamespaceExcluded")
    assert rig.writes() == []


def test_an_automatic_copy_expands_without_asking(tmp_path: Path) -> None:
    """What the runbook allows decides the route: the same runbook with maxAutonomy auto,
    and routing that trusts it, acts at once and tells nobody beforehand."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = (RUNBOOKS / f"{RUNBOOK}.yaml").read_text()
    assert "maxAutonomy: ask" in text
    (folder / f"{RUNBOOK}.yaml").write_text(text.replace("maxAutonomy: ask", "maxAutonomy: auto"))
    rig = build_rig(tmp_path, runbooks=[folder], auto=0.6)
    try:
        seed_volume(rig, size="400Gi")
        rig.post_alerts([filling_up(rig)])
        (handled,) = [h for h in rig.cycle() if h.outcome == "decided"]
        assert handled.route == "auto" and rig.channel.asked == []
        assert rig.writes() == [EXPAND]
        assert sizes(rig) == ("500Gi", "400Gi")  # x1.5 stops at the runbook's 500Gi
        finish_resize(rig.server.store, "data-db-0", namespace="shop")
        rig.promql.set(FREE, 0.2)
        rig.run(3 * 60)
        assert reload(rig, only(rig)).status == "verified"
    finally:
        rig.close()
