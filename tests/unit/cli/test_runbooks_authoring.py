"""The three runbooks of docs/examples/authoring/, written from the docs alone, and what
the preview told their author: they load, and `runbooks test` on their cluster says
what each would do, names the alert a verification waits for, says why a signal held
too briefly is not taken, and that the daemon's default mode keeps asking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from remediation.loading import check_paths

HERE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "authoring"
AT = "2026-11-18T10:00:00Z"  # a Wednesday, 11:00 in Paris: inside the working hours


def preview(capsys: pytest.CaptureFixture[str], *extra: str, at: str = AT) -> dict[str, Any]:
    main(
        [
            "runbooks",
            "test",
            str(HERE / "runbooks"),
            "--objects",
            str(HERE / "cluster.yaml"),
            "--alert",
            str(HERE / "alert-high-latency.json"),
            "--alert",
            str(HERE / "alert-queue-backlog.json"),
            "--at",
            at,
            *extra,
        ]
    )
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def taken(data: dict[str, Any], runbook: str) -> list[dict[str, Any]]:
    return [rb for s in data["signals"] for rb in s["runbooks"] if rb["runbook"] == runbook]


def test_the_examples_load_without_a_problem_or_a_note() -> None:
    report = check_paths([str(HERE / "runbooks")])
    assert [str(issue) for issue in report.issues] == []
    assert sorted(runbook.name for _, runbook in report.runbooks) == [
        "disk-pressure-cordon-workers",
        "high-latency-restart",
        "queue-backlog-scale-up",
    ]


def test_latency_restart_waits_for_the_alert_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    [web] = taken(preview(capsys, "--json"), "high-latency-restart")
    assert web["outcome"] == "decided" and web["target"] == "Deployment/shop/web"
    [change] = web["changes"]
    assert change["operation"]["op"] == "rollout_restart"
    # A Deployment never restarted has no restartedAt: said so, not as Python's None.
    assert "restartedAt (unset) -> 2026-11-18T10:00:00Z" in change["dry_run"]
    assert web["verification"][1].startswith("alert HighLatency resolved (fingerprint ")
    # Asked now; under the default mode (propose) it would keep asking.
    assert web["routing"]["route"] == "ask"
    assert "still ask: the daemon's mode propose" in web["routing"]["later"]


def test_latency_restart_outside_working_hours_does_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    [web] = taken(preview(capsys, "--json", at="2026-11-21T10:00:00Z"), "high-latency-restart")
    assert (web["outcome"], web["reason_code"]) == ("skipped", "OutsideMaintenanceWindow")


def test_the_mode_act_config_lets_a_proven_runbook_act(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "autonomic.yaml"
    config.write_text("mode: act\n")
    [web] = taken(preview(capsys, "--json", "--config", str(config)), "high-latency-restart")
    assert web["routing"]["route"] == "ask"
    assert web["routing"]["later"].endswith("it would act alone")


def test_queue_backlog_adds_one_replica(capsys: pytest.CaptureFixture[str]) -> None:
    [worker] = taken(preview(capsys, "--json"), "queue-backlog-scale-up")
    assert worker["outcome"] == "decided"
    [change] = worker["changes"]
    assert change["operation"] == {
        "target": {"kind": "StatefulSet", "name": "worker", "namespace": "jobs"},
        "replicas": 5,
        "expected": None,
        # The object the plan read (a file's object without a uid gets one from its
        # kind and name): the daemon's write would be refused on another of that name.
        "planned_uid": "uid-statefulset-jobs-worker",
        "op": "scale",
    }
    assert "replicas 4 -> 5" in change["dry_run"]


def test_disk_pressure_cordons_workers_only_and_says_who_waits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = preview(capsys, "--json")
    by_target = {
        rb["target"] or s["signal"]["target"]: rb
        for s in data["signals"]
        for rb in s["runbooks"]
        if rb["runbook"] == "disk-pressure-cordon-workers"
    }
    assert by_target["Node/cp-1"]["reason_code"] == "OptedOut"
    assert by_target["Node/node-a"]["outcome"] == "decided"
    [change] = by_target["Node/node-a"]["changes"]
    assert change["operation"]["op"] == "cordon"
    # node-d has had DiskPressure for 2 minutes of the 5 the trigger wants: not taken,
    # and the preview says why rather than listing it as if no runbook were about it.
    [waiting] = data["unmatched"]
    assert waiting["target"] == "Node/node-d"
    assert waiting["near_misses"] == [
        "disk-pressure-cordon-workers does not take it: needs it held for 5m; held 2m "
        "(since 2026-11-18 09:58:00 UTC)"
    ]


def test_text_preview_shows_the_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "runbooks",
            "test",
            str(HERE / "runbooks"),
            "--objects",
            str(HERE / "cluster.yaml"),
            "--alert",
            str(HERE / "alert-high-latency.json"),
            "--at",
            AT,
        ]
    )
    out = capsys.readouterr().out
    assert "      alert HighLatency resolved (fingerprint " in out
    assert "  kubernetes DiskPressure on Node/node-d (signal confidence 100.0%)\n" in out
    assert "    disk-pressure-cordon-workers does not take it: needs it held for 5m" in out
    assert "the daemon's mode propose asks before every action" in out


def test_a_workload_without_its_pods_is_said(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Objects written by hand without the Deployment's pods: every replica counts as
    unhealthy and the blast-radius guard holds the runbook back; the preview says the
    objects are short, not only that the guard failed."""
    text = (HERE / "cluster.yaml").read_text()
    deployment = text.split("- apiVersion: apps/v1\n  kind: ReplicaSet")[0]
    objects = tmp_path / "web.yaml"
    objects.write_text(deployment)
    code = main(
        [
            "runbooks",
            "test",
            str(HERE / "runbooks" / "high-latency-restart.yaml"),
            "--objects",
            str(objects),
            "--alert",
            str(HERE / "alert-high-latency.json"),
            "--at",
            AT,
            "--json",
        ]
    )
    assert code == 3
    [web] = taken(json.loads(capsys.readouterr().out), "high-latency-restart")
    assert web["reason_code"] == "MinHealthy"
    assert web["hints"] == [
        "the objects hold no Pod of Deployment/shop/web (3 replicas wanted), so none "
        "counts as healthy: add its pods (kubectl get pods -o yaml), each with an "
        "ownerReference to a ReplicaSet of it"
    ]


def test_a_matcher_that_rejects_the_alert_is_said(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = (HERE / "runbooks" / "high-latency-restart.yaml").read_text()
    runbook = tmp_path / "critical-only.yaml"
    runbook.write_text(
        source.replace(
            "      alertname: HighLatency\n",
            "      alertname: HighLatency\n      matchers: ['severity=\"critical\"']\n",
        )
    )
    code = main(
        [
            "runbooks",
            "test",
            str(runbook),
            "--objects",
            str(HERE / "cluster.yaml"),
            "--signal",
            "alert:HighLatency:Deployment/shop/web:severity=warning",
            "--at",
            AT,
            "--json",
        ]
    )
    assert code == 3
    [unmatched] = json.loads(capsys.readouterr().out)["unmatched"]
    assert unmatched["near_misses"] == [
        "high-latency-restart does not take it: "
        "severity=\"critical\" rejects the signal's severity='warning'"
    ]
