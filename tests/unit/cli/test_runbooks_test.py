"""`autonomic runbooks test`: the preview of what runbooks would do, through the CLI.

The cluster is docs/examples/cluster.yaml (five things wrong, as kubectl prints them);
each shipped runbook's planned operation is asserted, then the bad inputs, then the
preview against the engine itself on the same objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from forecasting.anomaly.calibration import NAB

REPO = Path(__file__).resolve().parents[3]
RUNBOOKS = REPO / "runbooks"
CLUSTER = REPO / "docs" / "examples" / "cluster.yaml"
ALERT = REPO / "docs" / "examples" / "alert-pvc-filling.json"
AT = "2026-11-18T10:00:00Z"  # a Wednesday: outside the drain runbook's Friday freeze


def preview(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> dict[str, Any]:
    assert main(["runbooks", "test", *args, "--at", AT, "--json"]) == code
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def taken(data: dict[str, Any], runbook: str) -> list[dict[str, Any]]:
    """What ``runbook`` made of each signal it took up, in signal order."""
    return [rb for s in data["signals"] for rb in s["runbooks"] if rb["runbook"] == runbook]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The whole example: every shipped runbook, the objects, the claim's alert."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "runbooks",
                "test",
                str(RUNBOOKS),
                "--objects",
                str(CLUSTER),
                "--alert",
                str(ALERT),
                "--at",
                AT,
                "--json",
            ]
        )
    assert code == 0
    data: dict[str, Any] = json.loads(out.getvalue())
    return data


def test_crashloop_after_rollout_rolls_back_to_the_previous_image(example: dict[str, Any]) -> None:
    [web] = taken(example, "crashloop-after-rollout-rollback")
    assert web["outcome"] == "decided" and web["target"] == "Deployment/shop/web"
    [change] = web["changes"]
    assert change["operation"]["op"] == "rollback" and change["operation"]["revision"] == 4
    assert (
        "rollback from revision 4 to 3 (web=shop/web:1.4.0 -> web=shop/web:1.3.9)"
        in (change["dry_run"])
    )
    assert change["refused"] is None
    checks = {c["name"]: c for c in web["preconditions"]}
    assert checks["changedWithin"]["seen"] == "rolled out 8m ago"
    assert all(g["passed"] for g in web["guards"])
    assert web["routing"]["route"] == "ask" and web["routing"]["mode"] == "propose"


def test_stuck_pod_is_deleted_and_only_that_pod(example: dict[str, Any]) -> None:
    decided = [rb for rb in taken(example, "restart-stuck-pods") if rb["outcome"] == "decided"]
    [cart] = decided
    [change] = cart["changes"]
    assert change["operation"] == {
        "target": {"kind": "Pod", "name": "cart-5b7c9d4f8-w9p3z", "namespace": "shop"},
        "planned_uid": "uid-pod-shop-cart-5b7c9d4f8-w9p3z",  # the pod the plan read
        "op": "delete_pod",
    }
    assert "deleted from node worker-4" in change["dry_run"]
    # The pods of a Deployment that is not opted in are said, not acted on.
    refused = {rb["reason_code"] for rb in taken(example, "restart-stuck-pods")} - {"NeedsApproval"}
    assert refused == {"NotOptedIn"}


def test_notready_node_is_drained_and_its_daemonset_pod_left(example: dict[str, Any]) -> None:
    [node] = taken(example, "node-notready-drain")
    [change] = node["changes"]
    assert change["operation"]["op"] == "drain"
    assert change["operation"]["target"]["name"] == "worker-3"
    assert change["details"] == [
        "would evict: shop/search-6c5f8b7d9-k8d2f",
        "left in place: monitoring/node-exporter-7hx2c (DaemonSet)",
    ]
    assert node["routing"]["max_autonomy"] == "ask" and node["routing"]["asks"]


def test_oomkilled_container_gets_a_higher_limit_once(example: dict[str, Any]) -> None:
    first, second = taken(example, "oom-raise-memory-limit")
    [change] = first["changes"]
    assert change["operation"]["op"] == "patch_resources"
    assert change["operation"]["limits"] == {"memory": "384Mi"}
    assert change["operation"]["expected"] == {"limits": {"memory": "256Mi"}}
    assert "limits.memory 256Mi -> 384Mi" in change["dry_run"]
    # The second OOMKilled pod of the same rollout is the same incident, as in the engine.
    assert (second["outcome"], second["reason_code"]) == ("duplicate", "AlreadyDecided")


def test_filling_claim_is_expanded_from_the_alert(example: dict[str, Any]) -> None:
    [claim] = taken(example, "pvc-filling-up-expand")
    assert claim["target"] == "PersistentVolumeClaim/shop/data-db-0"
    [change] = claim["changes"]
    assert change["operation"]["op"] == "expand_volume" and change["operation"]["size"] == "15Gi"
    assert change["dry_run"].startswith(
        "PersistentVolumeClaim/shop/data-db-0: storage 10Gi -> 15Gi"
    )
    assert claim["on_failure"].startswith("leave what was written")


def test_the_example_names_what_it_did_not_read(example: dict[str, Any]) -> None:
    assert example["ignored"] == {"Service": 1}
    assert example["objects"]["Pod"] == 10
    assert example["decisions"] == 5
    assert [s["target"] for s in example["unmatched"]] == ["Pod/shop/web-7f5c8d6b9-r5jn8"]


def test_text_output_says_each_change_and_the_route(capsys: pytest.CaptureFixture[str]) -> None:
    rb = str(RUNBOOKS / "crashloop-after-rollout-rollback.yaml")
    assert main(["runbooks", "test", rb, "--objects", str(CLUSTER), "--at", AT]) == 0
    out = capsys.readouterr().out
    assert "nothing is written, no ledger is opened" in out
    assert "crashloop-after-rollout-rollback on Deployment/shop/web: would ask a person" in out
    assert "dry run: Deployment/shop/web: rollback from revision 4 to 3" in out
    # maxActionsPerTarget is the 12th; the disruption budget (maxPodsDisruptedPerHour) 13th
    assert "guards (fresh ledger): 13 of 13 pass" in out
    assert out.rstrip().endswith("1 decision would be made.")


def test_given_forecast_breach_scales_out(capsys: pytest.CaptureFixture[str]) -> None:
    data = preview(
        capsys,
        str(RUNBOOKS / "traffic-surge-scale-out.yaml"),
        "--objects",
        str(CLUSTER),
        "--signal",
        "forecastBreach:requests_per_second:Deployment/shop/web:excess=0.4",
    )
    [signal] = data["signals"]
    assert signal["signal"]["kind"] == "forecastBreach"  # the objects' own are not tested
    [web] = signal["runbooks"]
    [change] = web["changes"]
    assert change["operation"]["op"] == "scale" and change["operation"]["replicas"] == 5
    assert change["dry_run"].startswith("Deployment/shop/web: replicas 3 -> 5")


def test_a_breach_on_a_named_load_query_is_not_taken_for_http_traffic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A breach of a workload read with the load query ``queue_depth`` is named so: the
    shipped traffic-surge-scale-out (requests_per_second) does not take it up, a copy
    of it written for ``queue_depth`` does."""
    shipped = RUNBOOKS / "traffic-surge-scale-out.yaml"
    signal = ["--signal", "forecastBreach:queue_depth:Deployment/shop/web:excess=0.4"]
    data = preview(capsys, str(shipped), "--objects", str(CLUSTER), *signal, code=3)
    assert data["signals"] == []
    [seen] = data["unmatched"]
    assert (seen["kind"], seen["name"]) == ("forecastBreach", "queue_depth")
    backlog = tmp_path / "backlog.yaml"
    backlog.write_text(
        shipped.read_text()
        .replace("name: traffic-surge-scale-out", "name: backlog-scale-out")
        .replace("metric: requests_per_second", "metric: queue_depth")
    )
    data = preview(capsys, str(backlog), "--objects", str(CLUSTER), *signal)
    [change] = taken(data, "backlog-scale-out")[0]["changes"]
    assert change["operation"]["op"] == "scale" and change["operation"]["replicas"] == 5


def test_a_breach_is_as_sure_as_the_scaling_loop_would_state_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A forecast breach defaulted to confidence 1, which the scaling loop's never carry
    (``breach_confidence``: 0.8 at 20 % above the bound, 0.95 from 50 %): a runbook
    asking for approval below 0.9 was previewed acting alone on a 30 % breach the
    daemon would state at 0.85, and so send to a person."""
    config = tmp_path / "config.yaml"
    config.write_text("mode: act\nrouting:\n  auto: 0.5\n  ask: 0.3\n")
    text = (RUNBOOKS / "traffic-surge-scale-out.yaml").read_text()
    barred = tmp_path / "surge.yaml"
    barred.write_text(text.replace("    replicasAffectedOver: 15\n", "    confidenceBelow: 0.9\n"))
    objects = ["--objects", str(CLUSTER), "--config", str(config)]
    breach = "forecastBreach:requests_per_second:Deployment/shop/web:excess=0.3"
    data = preview(capsys, str(barred), *objects, "--signal", breach)
    [signal] = data["signals"]
    assert signal["signal"]["confidence"] == pytest.approx(0.85)
    [web] = signal["runbooks"]
    assert web["routing"]["approval_required"] == ["signal confidence 0.85 is below 0.90"]
    # the default excess, 0.5, is stated at the most a breach carries; and a confidence
    # given is taken as given
    [default] = preview(capsys, str(barred), *objects, "--signal", breach[:-11])["signals"]
    assert default["signal"]["confidence"] == pytest.approx(0.95)
    [given] = preview(capsys, str(barred), *objects, "--signal", breach + ",confidence=1")[
        "signals"
    ]
    assert given["signal"]["confidence"] == 1.0
    # the text output says the confidence it assumed
    assert main(["runbooks", "test", str(barred), *objects, "--signal", breach, "--at", AT]) == 0
    assert "(signal confidence 85.0%)" in capsys.readouterr().out


@pytest.mark.parametrize(("verdict", "slowdown"), [("rollback", 1.2), ("promote", 1.0)])
def test_a_canary_verdict_is_as_sure_as_the_canary_loop_would_state_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, verdict: str, slowdown: float
) -> None:
    """A given canary verdict defaulted to confidence 1, which the canary loop never
    sends: it sends the judge's calibrated confidence (``canary_confidence``), 0.9949 to
    0.9963 for a rollback and 0.6727 to 0.7636 for a promotion today, or at least 0.99
    once a person approved it. A runbook asking first below, say, 0.95 was previewed
    acting alone on every promotion. The default is now the least the loop sends without
    a person: here a real run of the loop whose verdict is at the bottom of its table (a
    rollback of a canary 20 % slower; a promotion of an equal one, its type's thresholds
    lowered so that it is routed auto, as canary-promote.yaml describes)."""
    from agent.ledger import open_ledger
    from tests.unit.canary_loop.test_canary_loop import rig, run_until_final

    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    try:
        ledger.record_thresholds("canary/promote", 0.6, 0.5, {}, 0.0)
        loop, signals, clock, _cluster = rig(ledger, canary_slowdown=slowdown)
        run_until_final(loop, clock)
    finally:
        ledger.close()
    (sent,) = signals
    assert (sent.kind, sent.name) == ("canary", verdict)
    runbook = str(RUNBOOKS / f"canary-{verdict}.yaml")
    given = f"canary:{verdict}:Deployment/shop/web"
    # (the example's web is not opted in to canary-promote: it takes no promotion)
    args = (runbook, "--objects", str(CLUSTER), "--signal", given)
    code = 0 if verdict == "rollback" else 3
    [signal] = preview(capsys, *args, code=code)["signals"]
    assert signal["signal"]["confidence"] == sent.confidence
    # a confidence given is taken as given (0.99: what a person's yes is sent with)
    [signal] = preview(capsys, *args[:-1], given + ":confidence=0.99", code=code)["signals"]
    assert signal["signal"]["confidence"] == 0.99


def test_given_canary_verdict_below_the_runbook_bar_forces_a_question(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The shipped canary-rollback has no such bar (every rollback the judge states is at
    # 0.99 or more): a copy of it with one.
    config = tmp_path / "config.yaml"
    config.write_text("mode: act\nrouting:\n  auto: 0.5\n  ask: 0.3\n")
    text = (RUNBOOKS / "canary-rollback.yaml").read_text()
    assert "requireApprovalWhen" not in text
    barred = tmp_path / "canary-rollback.yaml"
    barred.write_text(
        text.replace(
            "  maxAutonomy: auto\n",
            "  maxAutonomy: auto\n  requireApprovalWhen:\n    confidenceBelow: 0.9\n",
        )
    )
    rb = str(barred)
    objects = ["--objects", str(CLUSTER), "--config", str(config)]
    sure = preview(capsys, rb, *objects, "--signal", "canary:rollback:Deployment/shop/web")
    [[confident]] = [s["runbooks"] for s in sure["signals"]]
    assert confident["routing"]["route"] == "auto" and not confident["routing"]["approval_required"]
    doubt = "canary:rollback:Deployment/shop/web:confidence=0.85"
    unsure = preview(capsys, rb, *objects, "--signal", doubt)
    [[forced]] = [s["runbooks"] for s in unsure["signals"]]
    assert forced["routing"]["approval_required"] == ["signal confidence 0.85 is below 0.90"]
    assert (forced["routing"]["route"], forced["reason_code"]) == ("ask", "ApprovalRequired")


def test_promql_precondition_needs_a_metric(capsys: pytest.CaptureFixture[str]) -> None:
    rb = str(RUNBOOKS / "error-rate-pause-rollout.yaml")
    args = [
        rb,
        "--objects",
        str(CLUSTER),
        "--signal",
        "anomaly:http_error_ratio:Deployment/shop/web",
    ]
    blind = preview(capsys, *args, code=3)
    [[web]] = [s["runbooks"] for s in blind["signals"]]
    assert (web["outcome"], web["reason_code"]) == ("skipped", "NoData")
    query = 'sum(rate(http_requests_total{namespace="shop", deployment="web"}[5m]))'
    assert web["missing_metrics"] == [query]
    assert web["changes"][0]["operation"]["op"] == "pause_rollout"  # planned, not made
    quiet = preview(capsys, *args, "--metric", "http_requests_total=0.2", code=3)
    [[web]] = [s["runbooks"] for s in quiet["signals"]]
    assert web["reason_code"] == "PreconditionFailed"
    busy = preview(capsys, *args, "--metric", f"{query}=12")
    [[web]] = [s["runbooks"] for s in busy["signals"]]
    assert web["outcome"] == "decided"
    assert {"name": "promql (at least one request per second)", "seen": "12"}.items() <= (
        web["preconditions"][-1].items()
    )


def test_an_anomaly_signal_is_as_sure_as_the_daemons_can_be_and_a_new_runbook_escalates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An anomaly signal defaulted to confidence 1, which the daemon's never carry (at most
    the share of incidents at score 1 that were real on NAB): the preview said a new
    runbook would ask where the daemon's would escalate."""
    query = 'sum(rate(http_requests_total{namespace="shop", deployment="web"}[5m]))'
    args = [
        str(RUNBOOKS / "error-rate-pause-rollout.yaml"),
        "--objects",
        str(CLUSTER),
        "--signal",
        "anomaly:http_error_ratio:Deployment/shop/web",
        "--metric",
        f"{query}=12",
    ]
    [[web]] = [s["runbooks"] for s in preview(capsys, *args)["signals"]]
    assert web["outcome"] == "decided"
    assert web["routing"]["confidence"] == pytest.approx(NAB.probability(1.0) * 0.75, abs=1e-4)
    assert web["routing"]["route"] == "escalate"


def test_nothing_to_do_exits_3_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    rb = str(RUNBOOKS / "crashloop-after-rollout-rollback.yaml")
    late = "2026-11-18T11:00:00Z"  # an hour after the rollout: changedWithin 30m fails
    assert main(["runbooks", "test", rb, "--objects", str(CLUSTER), "--at", late]) == 3
    out = capsys.readouterr().out
    assert "would not act [NoRecentChange]: Deployment shop/web was last rolled out 1h8m ago" in out
    assert "No runbook would decide anything (exit status 3)." in out


def test_given_kubernetes_signal_must_be_in_the_objects(capsys: pytest.CaptureFixture[str]) -> None:
    rb = str(RUNBOOKS / "restart-stuck-pods.yaml")
    signal = "kubernetes:PodNotReady:Pod/shop/web-6d8f7b9c4-2xk9p"
    assert main(["runbooks", "test", rb, "--objects", str(CLUSTER), "--signal", signal]) == 1
    out = capsys.readouterr().out
    assert out == (
        f"--signal {signal}: the objects show no PodNotReady on Pod/shop/web-6d8f7b9c4-2xk9p; "
        "they show no condition on it\n"
    )


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        (["--signal", "crash:X:Pod/a/b"], "--signal crash:X:Pod/a/b: write KIND:NAME:TARGET"),
        (["--signal", "anomaly:m:Deployment/web"], "write Deployment/NAMESPACE/NAME"),
        (["--signal", "canary:rollback:Deployment/shop/web:confidence=2"], "not between 0 and 1"),
        (["--signal", "anomaly:m:Deployment/shop/web:speed=3"], "unknown option speed"),
        (["--metric", "up"], "--metric 'up': write QUERY=VALUE"),
        (["--metric", "up=high"], "the value 'high' is not a number"),
        (["--metric", "up=٣"], "the value '٣' is not a number"),
        (["--metric", "up=1_000"], "the value '1_000' is not a number"),
        (
            ["--signal", "canary:rollback:Deployment/shop/web:confidence=٠.٥"],
            "confidence='٠.٥' is not a number",
        ),
        (
            ["--signal", "forecastBreach:rps:Deployment/shop/web:excess=０.４"],
            "excess='０.４' is not a number",
        ),
        (
            ["--signal", "forecastBreach:rps:Deployment/shop/web:excess=0.1"],
            "excess=0.1: the scaling loop signals a forecast breach only from excess=0.2",
        ),
        (
            ["--signal", "canary:rollback:Deployment/shop/web:revision=2.5"],
            "revision='2.5' is not a revision; write a whole number from 1",
        ),
        (
            ["--signal", "canary:rollback:Deployment/shop/web:revision=0"],
            "revision='0' is not a revision",
        ),
        (
            ["--signal", "canary:rollback:Deployment/shop/web:revision=٣"],
            "revision='٣' is not a revision",
        ),
    ],
)
def test_bad_signal_or_metric(
    capsys: pytest.CaptureFixture[str], argument: list[str], expected: str
) -> None:
    rb = str(RUNBOOKS / "restart-stuck-pods.yaml")
    assert main(["runbooks", "test", rb, "--objects", str(CLUSTER), *argument]) == 1
    assert expected in capsys.readouterr().out


def test_an_objects_or_alert_file_that_cannot_be_read_is_a_bad_input_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the docs: exit 1 when the objects or an alert is wrong; a missing file was exit 2
    rb = str(RUNBOOKS / "restart-stuck-pods.yaml")
    objects, alert = tmp_path / "absent.yaml", tmp_path / "absent.json"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"kind: List\nitems: []  # caf\xe9\n")
    args = ["runbooks", "test", rb, "--objects", str(objects), "--alert", str(alert)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{objects}: cannot read the objects: No such file or directory",
        f"{alert}: cannot read the alert: No such file or directory",
    ]
    assert "2 problems in the inputs; nothing was previewed" in captured.err
    assert main(["runbooks", "test", rb, "--objects", str(CLUSTER), "--alert", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"{tmp_path}: cannot read the alert: Is a directory\n"
    assert main(["runbooks", "test", rb, "--objects", str(latin)]) == 1
    assert capsys.readouterr().out == (
        f"{latin}: not UTF-8 text (invalid continuation byte); save it as UTF-8\n"
    )


BAD_OBJECTS = """\
apiVersion: v1
kind: List
items:
- kind: Deployment
  metadata:
    name: web
    namespace: shop
    labels: {autonomic.dev/enabled: true}
  spec:
    replicas: three
- metadata: {name: lost}
- kind: Pod
  metadata:
    name: web-1
    namespace: shop
  status:
    startTime: yesterday
- kind: Node
  metadata: {name: worker-1}
- kind: Node
  metadata: {name: worker-1}
"""


def test_bad_objects_file_names_file_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    objects = tmp_path / "cluster.yaml"
    objects.write_text(BAD_OBJECTS)
    rb = str(RUNBOOKS / "restart-stuck-pods.yaml")
    assert main(["runbooks", "test", rb, "--objects", str(objects)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{objects}:8: items[0].metadata.labels.autonomic.dev/enabled: expected a string, got "
        'true (quote it: "true"; Kubernetes keeps label and annotation values as strings) '
        "(Deployment)",
        f"{objects}:10: items[0].spec.replicas: expected a whole number, got 'three' (Deployment)",
        f"{objects}:11: items[1].kind: every object needs a kind (Deployment, Pod, Node...)",
        f"{objects}:17: items[2].status.startTime: expected an RFC 3339 time such as "
        "2026-11-18T10:00:00Z, got 'yesterday' (Pod)",
        f"{objects}:20: items[4]: Node worker-1 is listed twice (first at line 18)",
    ]
    assert "5 problems in the inputs; nothing was previewed" in captured.err


def test_objects_that_are_not_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    objects = tmp_path / "cluster.yaml"
    objects.write_text("items:\n- kind: Pod\n\tmetadata: {}\n")
    rb = str(RUNBOOKS / "restart-stuck-pods.yaml")
    assert main(["runbooks", "test", rb, "--objects", str(objects)]) == 1
    assert capsys.readouterr().out.startswith(f"{objects}:3: not YAML: ")


def test_bad_runbook_and_bad_alert_are_reported_together(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runbook = tmp_path / "bad.yaml"
    text = (RUNBOOKS / "restart-stuck-pods.yaml").read_text()
    runbook.write_text(text.replace("maxPods: 1", "maxPods: many"))
    alert = tmp_path / "alert.json"
    alert.write_text('{\n  "severity": "critical",\n  "namespace": "shop"\n}\n')
    args = ["runbooks", "test", str(runbook), "--objects", str(CLUSTER), "--alert", str(alert)]
    assert main(args) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{runbook}:") and "spec.actions[0].maxPods" in lines[0]
    assert lines[1] == f"{alert}:1: (labels): every alert needs an 'alertname' label"


def test_alert_that_is_not_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    alert = tmp_path / "alert.json"
    alert.write_text('{\n  "alertname": "KubeNodeNotReady",\n  node: worker-3\n}\n')
    rb = str(RUNBOOKS / "node-notready-drain.yaml")
    assert main(["runbooks", "test", rb, "--objects", str(CLUSTER), "--alert", str(alert)]) == 1
    assert capsys.readouterr().out.startswith(f"{alert}:3: not JSON: ")


def test_writes_nothing_anywhere(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """No ledger file, no output file: the folder it runs in stays empty, and the
    adapter under the preview refuses any write that is not a dry run."""
    from agent.cli._objects import ObjectsCluster, load_objects
    from agent.errors import PermanentError
    from remediation.ports import ObjectRef, Scale

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["runbooks", "test", str(RUNBOOKS), "--objects", str(CLUSTER)]) in (0, 3)
    finally:
        os.chdir(here)
    assert list(tmp_path.iterdir()) == []
    cluster = ObjectsCluster(load_objects(CLUSTER).objects, 0.0)
    web = ObjectRef("Deployment", "web", "shop")
    assert "replicas 3 -> 4" in cluster.apply(Scale(web, 4), dry_run=True).summary
    with pytest.raises(PermanentError, match="the preview writes nothing"):
        cluster.apply(Scale(web, 4))


def test_the_preview_says_what_the_engine_decides(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The daemon's engine on the same objects (read by the same adapter), the same
    alert and the same moment, on a fresh ledger: the same runbooks decide on the same
    targets, with the same changes, operations, routes and confidences, and the others
    are skipped or held back for the same reasons."""
    from agent.approvals import Approvals, LedgerOnlyChannel
    from agent.cli._objects import ObjectsCluster, load_objects
    from agent.cli.runbooks_test import _load_alert, _parse_at
    from agent.clock import FakeClock
    from agent.decisions import DecisionService
    from agent.executor import Executor
    from agent.ledger import open_ledger
    from agent.observability import Metrics
    from agent.remediation_engine import RemediationEngine
    from agent.settings import RoutingSettings
    from remediation.alerts import to_signals, update_firing
    from remediation.guards import GlobalLimits
    from remediation.loading import load_paths

    shown = preview(capsys, str(RUNBOOKS), "--objects", str(CLUSTER), "--alert", str(ALERT))
    now = _parse_at(AT)
    clock = FakeClock(now)
    cluster = ObjectsCluster(load_objects(CLUSTER).objects, now)
    payload = _load_alert(ALERT, now)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", now)
    decisions = DecisionService(
        ledger,
        clock,
        RoutingSettings(),
        mode="propose",  # the daemon's default, as the preview's without --config
        approvals=Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900),
        metrics=Metrics(),
    )
    engine = RemediationEngine(
        runbooks=load_paths([RUNBOOKS]),
        ledger=ledger,
        decisions=decisions,
        executor=Executor(ledger, cluster, clock, owner="test"),
        reader=cluster,
        clock=clock,
        limits=GlobalLimits(),
        alerts=lambda: update_firing((), payload),
    )
    engine.submit(to_signals(payload, now))
    handled = engine.cycle()
    ledger_decisions = ledger.decisions(kind="remediation", limit=100)
    ledger.close()

    engine_outcomes = sorted(
        (h.signal, h.runbook or "", h.outcome, h.reason_code)
        for h in handled
        if h.outcome != "no-match"
    )
    preview_outcomes = sorted(
        (s["signal"]["description"], rb["runbook"], rb["outcome"], rb["reason_code"])
        for s in shown["signals"]
        for rb in s["runbooks"]
        if rb["outcome"] != "no-match"
    )
    assert engine_outcomes == preview_outcomes
    assert len(ledger_decisions) == shown["decisions"] == 5

    decided = {
        (rb["runbook"], rb["target"]): rb
        for s in shown["signals"]
        for rb in s["runbooks"]
        if rb["outcome"] == "decided"
    }
    for record in ledger_decisions:
        item = decided[(record.proposal["runbook"], record.subject)]
        assert record.proposal["diff"] == [c["planned"] for c in item["changes"]]
        assert record.proposal["operations"] == [c["operation"] for c in item["changes"]]
        assert record.proposal["notifications"] == item["notifications"]
        assert record.route == item["routing"]["route"]
        assert round(record.confidence, 4) == item["routing"]["confidence"]
        judged = [g for g in record.evidence["guards"]]
        assert judged == [*item["preconditions"], *item["guards"]]


def test_a_canary_signal_takes_a_whole_revision(capsys: pytest.CaptureFixture[str]) -> None:
    rb = str(RUNBOOKS / "canary-rollback.yaml")
    signal = "canary:rollback:Deployment/shop/web:revision=4"
    data = preview(capsys, rb, "--objects", str(CLUSTER), "--signal", signal)
    [[taken_up]] = [s["runbooks"] for s in data["signals"]]
    assert taken_up["runbook"] == "canary-rollback"
