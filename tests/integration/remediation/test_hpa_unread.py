"""An alert about an HPA the API server sends in a shape that cannot be read was held
back as ``TargetNotFound: ... is not in the cluster``: false, the HPA is there, and it
sent the on-call looking for one deleted. Through the real adapter and the fake API
server, the decision (and ``autonomic why``) now says it could not be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.fakekube.seed import seed_deployment, seed_hpa
from tests.integration.remediation.rig import build_rig, rfc3339

RUNBOOK = "hpa-maxed-out-notify"


def test_an_alert_about_an_hpa_that_could_not_be_read_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = build_rig(tmp_path)
    try:
        labels = {"autonomic.dev/enabled": "true"}
        seed_deployment(rig.server.store, "web", namespace="shop", labels=labels)
        seed_hpa(rig.server.store, "web", target="web", namespace="shop")

        def odd(obj: dict[str, Any]) -> None:
            obj["spec"]["maxReplicas"] = -1

        rig.server.store.modify("HorizontalPodAutoscaler", "shop", "web", odd)
        alert = {
            "status": "firing",
            "labels": {
                "alertname": "KubeHpaMaxedOut",
                "severity": "warning",
                "namespace": "shop",
                "horizontalpodautoscaler": "web",
            },
            "startsAt": rfc3339(rig.clock.now() - 900),
            "fingerprint": "fp-web",
        }
        assert rig.post_alerts([alert]) == 200
        handled = [h for h in rig.cycle() if h.runbook == RUNBOOK]
        assert [(h.outcome, h.reason_code) for h in handled] == [("no-match", "ObjectUnread")]
        message = handled[0].message
        assert message.startswith(
            "HorizontalPodAutoscaler/shop/web is not among the HPAs read, but "
            "Deployment/shop/web could not be read ("
        ), message
        assert "HorizontalPodAutoscaler shop/web" in message  # the adapter's reason
        assert "not in the cluster" not in message
        capsys.readouterr()
        ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        assert main(["why", "hpa/shop/web", "--ledger", ledger]) == 0
        out = capsys.readouterr().out
        assert f"{RUNBOOK}  no-match ObjectUnread" in out
        assert "TargetNotFound" not in out and "not in the cluster" not in out
    finally:
        rig.close()
