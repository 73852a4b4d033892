"""A signal a runbook's trigger is for (the same alert, metric or verdict) but refuses by
a label matcher or a threshold, and an alert no runbook's trigger names, were dropped
without a word: no log, no metric, nothing in `autonomic why`. The on-call asking "why
did it not roll back on KubePodCrashLooping?" now finds the matcher and the label that
refused it, or that no runbook names the alert. Kubernetes conditions below a trigger's
minCount or heldFor stay unkept (they get there, or recover)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from agent.cli import main
from agent.outcomes import NO_RUNBOOK
from remediation.ports import ObjectRef
from remediation.signals import Signal
from tests.unit.engine.harness import WEB, Rig, rig, web

CRASHLOOP = "crashloop-after-rollout-rollback"
POD = ObjectRef("Pod", "web-1", "shop")


def _alert(r: Rig, name: str, **labels: str) -> Signal:
    return Signal(
        kind="alert",
        name=name,
        target=POD,
        labels={"namespace": "shop", "pod": POD.name, **labels},
        confidence=0.9,
        observed_at=r.clock.now(),
        dedup_key=f"alert|{name}|{labels}",
    )


def _why(tmp: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["why", *args, "--json", "--ledger", str(tmp / "ledger.sqlite")]) == 0
    held: list[dict[str, object]] = json.loads(capsys.readouterr().out)["held_back"]
    return held


def _counted(r: Rig, runbook: str, reason: str) -> float:
    value = r.decisions.metrics.registry.get_sample_value(
        "autonomic_runbook_outcomes_total",
        {"runbook": runbook, "outcome": "no-match", "reason": reason},
    )
    return value or 0.0


def test_an_alert_a_matcher_refuses_names_the_matcher_and_the_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    r = rig(tmp_path)
    r.sim.add_workload(web())
    caplog.set_level(logging.INFO, logger="autonomic.remediation")
    (handled,) = r.engine.handle(
        [_alert(r, "KubePodCrashLooping", severity="info")], r.engine.snapshot()
    )
    assert (handled.runbook, handled.outcome, handled.reason_code) == (
        CRASHLOOP,
        "no-match",
        "TriggerNotMet",
    )
    assert _counted(r, CRASHLOOP, "TriggerNotMet") == 1
    (row,) = _why(tmp_path, capsys, "shop/web-1")
    assert (row["runbook"], row["subject"], row["reason_code"]) == (
        CRASHLOOP,
        str(POD),
        "TriggerNotMet",
    )
    message = str(row["message"])
    assert f'trigger 2 of {CRASHLOOP} needs severity=~"warning|critical"' in message
    assert 'it has severity="info"' in message
    assert any("TriggerNotMet" in m and 'severity="info"' in m for m in caplog.messages)


def test_an_alert_without_the_matched_label_says_it_has_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(tmp_path)
    r.sim.add_workload(web())
    r.engine.handle([_alert(r, "KubePodCrashLooping")], r.engine.snapshot())
    (row,) = _why(tmp_path, capsys)
    assert "and it has no severity" in str(row["message"])


def test_a_signal_below_the_triggers_min_confidence_says_both_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(tmp_path)
    r.sim.add_workload(web())
    signal = Signal(
        kind="anomaly",
        name="http_error_ratio",
        target=WEB,
        confidence=0.5,
        observed_at=r.clock.now(),
        dedup_key="anomaly|http_error_ratio|web",
        direction="up",
    )
    (handled,) = r.engine.handle([signal], r.engine.snapshot())
    assert handled.reason_code == "TriggerNotMet"
    (row,) = _why(tmp_path, capsys, "deploy/shop/web")
    assert row["runbook"] == "error-rate-pause-rollout"
    assert "confidence 0.50 is below the minConfidence 0.6" in str(row["message"])
    # The other direction is not this trigger's: no near miss, nothing kept.
    down = Signal(
        kind="anomaly",
        name="http_error_ratio",
        target=WEB,
        confidence=0.9,
        observed_at=r.clock.now(),
        dedup_key="anomaly|http_error_ratio|web|down",
        direction="down",
    )
    (handled,) = r.engine.handle([down], r.engine.snapshot())
    assert handled.reason_code == "NoMatch"
    assert len(_why(tmp_path, capsys)) == 1


def test_an_alert_no_runbook_names_is_kept_and_lists_the_alerts_they_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    r = rig(tmp_path)
    r.sim.add_workload(web())
    caplog.set_level(logging.INFO, logger="autonomic.remediation")
    (handled,) = r.engine.handle(
        [_alert(r, "KubePodCrashLoopin", severity="critical")], r.engine.snapshot()
    )
    assert (handled.runbook, handled.reason_code) == (None, "NoRunbook")
    (row,) = _why(tmp_path, capsys, "shop/web-1")
    assert (row["runbook"], row["reason_code"]) == (NO_RUNBOOK, "NoRunbook")
    message = str(row["message"])
    assert message.startswith("no runbook's trigger names alert KubePodCrashLoopin: ")
    assert "KubePodCrashLooping" in message and "KubeHpaMaxedOut" in message
    assert any(
        m.startswith("no runbook takes up a signal on Pod/shop/web-1") for m in caplog.messages
    )
    # Not counted as a runbook's outcome: the metric's runbook label is a runbook.
    assert _counted(r, NO_RUNBOOK, "NoRunbook") == 0
    # A resolved alert is not kept.
    resolved = Signal(
        kind="alert",
        name="SomethingElse",
        target=POD,
        confidence=0.9,
        observed_at=r.clock.now(),
        dedup_key="alert|resolved",
        status="resolved",
    )
    (handled,) = r.engine.handle([resolved], r.engine.snapshot())
    assert handled.reason_code == "NoMatch"
    assert len(_why(tmp_path, capsys)) == 1


def test_a_crash_loop_below_min_count_is_still_not_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(tmp_path)
    r.sim.add_workload(web())
    signal = Signal(
        kind="kubernetes",
        name="CrashLoopBackOff",
        target=POD,
        confidence=1.0,
        observed_at=r.clock.now(),
        dedup_key="k8s|crash|web-1",
        count=1,
    )
    (handled,) = r.engine.handle([signal], r.engine.snapshot())
    assert handled.reason_code == "NoMatch"
    assert _why(tmp_path, capsys) == []


def test_an_alert_about_nothing_that_no_runbook_names_is_not_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Watchdog fires for ever and names no object: not a row at the top of `why`."""
    r = rig(tmp_path)
    watchdog = Signal(
        kind="alert",
        name="Watchdog",
        target=None,
        confidence=1.0,
        observed_at=r.clock.now(),
        dedup_key="alert|Watchdog",
    )
    (handled,) = r.engine.handle([watchdog], r.engine.snapshot())
    assert (handled.runbook, handled.reason_code) == (None, "NoMatch")
    assert _why(tmp_path, capsys) == []


def test_an_opt_in_label_with_another_value_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`autonomic.dev/enabled: "True"` was reported as lacking the label, which the
    on-call could see on the Deployment: the value that is there is named."""
    r = rig(tmp_path)
    r.sim.add_workload(replace(web(), labels={"autonomic.dev/enabled": "True", "app": "web"}))
    alert = _alert(r, "KubePodCrashLooping", severity="critical", deployment="web")
    r.engine.handle([alert], r.engine.snapshot())
    rows = [row for row in _why(tmp_path, capsys) if row["reason_code"] == "NotOptedIn"]
    assert [row["message"] for row in rows] == [
        "Deployment/shop/web lacks the opt-in label autonomic.dev/enabled=true "
        "(it has autonomic.dev/enabled='True')"
    ]
