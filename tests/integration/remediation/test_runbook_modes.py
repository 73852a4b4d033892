"""Runbook modes and notify-only runbooks, through the adapter and the fake API server:
``dryRun`` sends the same writes with ``dryRun=All`` and changes nothing, ``shadow``
records what it would do and sends nothing, a notify-only runbook changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.remediation.rig import (
    RUNBOOKS,
    Controller,
    KubeRig,
    Write,
    build_rig,
    get_obj,
    seed_web,
)

NOTIFY_ONLY = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: tell-about-crashloops
  description: Tell the channel about crash loops; change nothing.
  version: 1
  owner: platform-oncall
spec:
  mode: enforce
  maxAutonomy: auto
  triggers:
    - type: kubernetes
      condition: CrashLoopBackOff
      minCount: 3
  target:
    kind: Deployment
    requireLabels: {autonomic.dev/enabled: "true"}
  actions:
    - type: notify
      severity: warning
      message: "{{target}} is crash-looping ({{signal}})."
"""


def _variant(tmp_path: Path, mode: str) -> Path:
    """The shipped crash-loop runbook in another mode, alone in a directory."""
    text = (RUNBOOKS / "crashloop-after-rollout-rollback.yaml").read_text()
    assert "  mode: enforce\n" in text
    folder = tmp_path / mode
    folder.mkdir()
    (folder / "runbook.yaml").write_text(text.replace("  mode: enforce\n", f"  mode: {mode}\n"))
    return folder


@pytest.fixture
def crashing(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[KubeRig]:
    mode = request.param
    folder = tmp_path / "notify"
    if mode == "notify":
        folder.mkdir()
        (folder / "notify.yaml").write_text(NOTIFY_ONLY)
    else:
        folder = _variant(tmp_path, mode)
    rig = build_rig(tmp_path, runbooks=[folder])
    seed_web(rig, behaviour="CrashLoopBackOff")
    controller = Controller(
        rig.server,
        rig.clock,
        lambda c: "CrashLoopBackOff" if c["image"] == "shop/web:2" else "Ready",
    )
    rig.controllers.append(lambda: controller.reconcile("shop", "web"))
    yield rig
    rig.close()


def _image(rig: KubeRig) -> str:
    deployment = get_obj(rig.server.store, "Deployment", "shop", "web")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.parametrize("crashing", ["dryRun"], indirect=True)
def test_dry_run_sends_the_write_as_a_server_side_dry_run(crashing: KubeRig) -> None:
    rig = crashing
    rig.run(5 * 60)
    (decision,) = rig.decisions_of("crashloop-after-rollout-rollback")
    assert decision.status == "done"
    assert rig.writes() == [Write("PATCH", "deployments", "shop", "web", True)]
    assert _image(rig) == "shop/web:2"  # nothing changed
    (intent,) = rig.ledger.intents()
    assert intent.status == "dry_run"
    assert rig.ledger.execution(decision.incident_key or "")["status"] == "dry-run"  # type: ignore[index]
    assert rig.ledger.count_actions(0.0) == 0  # a dry run is not an action


@pytest.mark.parametrize("crashing", ["shadow"], indirect=True)
def test_shadow_records_what_it_would_do_and_sends_nothing(crashing: KubeRig) -> None:
    rig = crashing
    rig.run(5 * 60)
    (decision,) = rig.decisions_of("crashloop-after-rollout-rollback")
    assert (decision.route, decision.status) == ("shadow", "shadowed")
    assert "roll back from revision 2" in decision.proposal["diff"][0]
    assert rig.writes() == [] and rig.ledger.intents() == []
    assert rig.channel.messages == 0


@pytest.mark.parametrize("crashing", ["notify"], indirect=True)
def test_notify_only_runbook_changes_nothing(crashing: KubeRig) -> None:
    rig = crashing
    rig.run(5 * 60)
    (decision,) = rig.decisions_of("tell-about-crashloops")
    assert decision.proposal["operations"] == []
    (note,) = decision.proposal["notifications"]
    assert note.startswith("Deployment shop/web is crash-looping (kubernetes CrashLoopBackOff")
    assert decision.status == "done"
    assert rig.writes() == [] and rig.ledger.intents() == []
    assert rig.ledger.count_actions(0.0) == 0


def test_a_dry_run_holds_back_no_runbook_that_acts(tmp_path: Path) -> None:
    """A dry run changes nothing: it used to start the target's cooldown for every
    runbook, count against the hourly limit across runbooks, and supersede approved
    decisions as if the target had been acted on ("... acted on web after this decision
    was made"). Here a dryRun copy of the crash-loop runbook runs alone; the enforcing
    one asks, is approved after the dry run, and still rolls web back."""
    folder = _variant(tmp_path, "dryRun")
    text = (folder / "runbook.yaml").read_text()
    (folder / "runbook.yaml").write_text(
        text.replace("name: crashloop-after-rollout-rollback", "name: a-crashloop-dry-run")
    )
    enforcing = (RUNBOOKS / "crashloop-after-rollout-rollback.yaml").read_text()
    assert "maxAutonomy: auto " in enforcing
    (folder / "enforce.yaml").write_text(
        enforcing.replace("maxAutonomy: auto ", "maxAutonomy: ask ")
    )
    rig = build_rig(tmp_path, runbooks=[folder])
    try:
        seed_web(rig, behaviour="CrashLoopBackOff")
        controller = Controller(
            rig.server,
            rig.clock,
            lambda c: "CrashLoopBackOff" if c["image"] == "shop/web:2" else "Ready",
        )
        rig.controllers.append(lambda: controller.reconcile("shop", "web"))
        rig.run(60)
        (dry,) = rig.decisions_of("a-crashloop-dry-run")
        assert dry.status == "done"
        (real,) = rig.decisions_of("crashloop-after-rollout-rollback")
        assert real.status == "asked"
        rig.clock.advance(120)
        assert rig.approve_pending() == 1
        rig.run(60)
        status = rig.ledger.get_decision(real.id).status  # type: ignore[union-attr]
        assert status in ("verifying", "verified"), status
        assert _image(rig) == "shop/web:1"
        assert rig.writes() == [
            Write("PATCH", "deployments", "shop", "web", True),
            Write("PATCH", "deployments", "shop", "web", False),
        ]
    finally:
        rig.close()
