"""The scaling loop explains the HPA it works with: what each of the HPA's metrics
proposes and which decides, in ``GET /scaling`` (``hpaMetrics``) and in the evidence of
the floor decided, next to Autonomic's floor (kubernetes/kubernetes#109538)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from agent.decisions import Proposal
from agent.loops.scaling import CAPACITY, FLOOR_DECISION, MIN_REPLICAS, PREDICTIVE
from forecasting.hpa_metrics import MetricReading
from remediation.ports import HpaState, ObjectRef
from tests.unit.engine.harness import WEB, rig
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

HPA = ObjectRef("HorizontalPodAutoscaler", "web", "shop")
METRICS = (
    MetricReading("Resource", "cpu", "Utilization", 70, 91, "70%", "91%"),
    MetricReading("Pods", "http_requests", "AverageValue", 100, 180, "100", "180"),
)


def test_the_hpas_metrics_are_explained_in_the_status_and_the_decision() -> None:
    """web at 5 replicas under an HPA reading cpu 91 % of 70 % (proposes 7) and 180
    requests a pod against 100 (proposes 9, deciding); a floor of 10 is wanted."""
    t, values = week_and_a_day(71)
    values[-100:] = 50.0
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "10"}), replicas=5, ready_replicas=5
    )
    loop = loop_over(WeekReader(t, values), clock, [web])
    cluster = cast(Any, loop.cluster)
    cluster.hpas[web.ref] = HpaState(HPA, web.ref, 2, 20, 5, 5, uid="u1", metrics=METRICS)
    loop.cycle()
    shown = loop.report()["hpaMetrics"][str(web.ref)]
    assert shown["hpa"] == str(HPA) and shown["currentReplicas"] == 5
    assert [(m["name"], m["proposes"]) for m in shown["metrics"]] == [
        ("cpu", 7),
        ("http_requests", 9),
    ]
    assert shown["decides"] == "http_requests" and shown["proposes"] == 9
    assert shown["metrics"][0]["current"] == "91%" and shown["metrics"][0]["ratio"] == 1.3
    assert "not the controller's internal state" in shown["note"]
    (decided,) = cast(Any, loop.decisions).proposals
    assert decided.proposal["to"] == 10
    said = decided.evidence["hpa_metrics"]
    assert said.startswith("at 5 replicas: cpu (91% of 70%) proposes 7, http_requests")
    assert "http_requests (180 of 100) proposes 9 (decides)" in said
    assert said.endswith("; Autonomic's floor 10")
    # Held for a bad annotation, it is still explained, on the HPA's newest status.
    bad = dataclasses.replace(web, annotations={**web.annotations, PREDICTIVE: "maybe"})
    cluster.workloads = [bad]
    cooler = (METRICS[0], dataclasses.replace(METRICS[1], current=90, current_text="90"))
    cluster.hpas[web.ref] = dataclasses.replace(cluster.hpas[web.ref], metrics=cooler)
    loop.cycle()
    assert loop.status.held_reason[str(web.ref)] == "BadAnnotation"
    shown = loop.report()["hpaMetrics"][str(web.ref)]
    assert [m["proposes"] for m in shown["metrics"]] == [7, 5]
    assert shown["decides"] == "cpu"
    # The HPA gone: no stale explanation is left.
    del cluster.hpas[web.ref]
    loop.cycle()
    assert loop.report()["hpaMetrics"] == {}


def test_a_workload_without_an_hpa_has_no_hpa_metrics_in_its_evidence() -> None:
    t, values = week_and_a_day(71)
    values[-100:] = 50.0
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "10", MIN_REPLICAS: "7"})
    loop = loop_over(WeekReader(t, values), clock, [web])
    loop.cycle()
    (decided,) = cast(Any, loop.decisions).proposals
    assert "hpa_metrics" not in decided.evidence
    assert loop.report()["hpaMetrics"] == {}


def test_explain_shows_the_hpa_metrics_whole(tmp_path: Path) -> None:
    """Evidence is clipped at 200 characters a line; the HPA's metrics are said whole."""
    r = rig(tmp_path)
    said = (
        "at 5 replicas: cpu (91% of 70%) proposes 7, http_requests (180 of 100) proposes 9 "
        "(decides), queue_depth_of_the_orders_consumer (2k of 1500) proposes 7 (from the "
        "HPA's last reported status, before its min/max and behavior); Autonomic's floor 10"
    )
    routed = r.decisions.decide(
        Proposal(
            kind="scaling",
            decision_type=FLOOR_DECISION,
            subject=str(WEB),
            proposal={"op": "set_hpa_min_replicas", "from": 2, "to": 10, "mode": "predictive"},
            signal_confidence=0.9,
            reason_code="PredictiveScaleUp",
            reason="minReplicas 2 -> 10",
            evidence={"hpa_metrics": said},
            model_version="profile/1",
        )
    )
    story = render(r.ledger, routed.decision_id)
    assert f"  HPA metrics {said}\n" in story


def test_an_error_explaining_one_hpa_never_ends_the_cycle() -> None:
    """The explanation is worked out outside each workload's guarded turn: an error
    there that is neither transient nor permanent (a bug) ended the cycle, and no
    workload listed after it was scaled. Now that workload's turn holds it as any
    unexpected error does, and the others go on."""
    t, values = week_and_a_day(71)
    values[-100:] = 50.0
    clock = FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "10", MIN_REPLICAS: "7"})
    api = workload("api", **{CAPACITY: "10", MIN_REPLICAS: "7"})
    loop = loop_over(WeekReader(t, values), clock, [web, api])
    cluster = cast(Any, loop.cluster)
    hpas = cluster.hpas

    def get_hpa_for(ref: ObjectRef) -> HpaState | None:
        if ref == web.ref:
            raise RuntimeError("a bug reading web's HPA")
        return cast(HpaState | None, hpas.get(ref))

    cluster.get_hpa_for = get_hpa_for
    loop.cycle()
    assert [p.subject for p in cast(Any, loop.decisions).proposals] == [str(api.ref)]
    assert loop.status.held_reason[str(web.ref)] == "Unexpected"
    assert loop.report()["hpaMetrics"] == {}


def test_the_loop_explains_with_the_workloads_status_and_ready_pods() -> None:
    """The per-pod calculators (``GetExternalPerPodMetricReplicas``) divide by the
    scale's status.replicas and the others scale the ready pods: mid-rollout, web wants
    5, has 6 pods up and 4 ready; a queue at 30 a pod of 20 is 180 in all (proposes 9,
    where 5 replicas said 8) and cpu at 91 % of 70 % proposes ceil(1.3 * 4) = 6."""
    t, values = week_and_a_day(71)
    values[-100:] = 50.0
    clock = FakeClock(float(t[-80]))
    web = dataclasses.replace(
        workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "10"}),
        replicas=5,
        ready_replicas=4,
        status_replicas=6,
    )
    loop = loop_over(WeekReader(t, values), clock, [web])
    metrics = (METRICS[0], MetricReading("External", "queue", "AverageValue", 20, 30, "20", "30"))
    cast(Any, loop.cluster).hpas[web.ref] = HpaState(
        HPA, web.ref, 2, 20, 5, 5, uid="u1", metrics=metrics
    )
    loop.cycle()
    shown = loop.report()["hpaMetrics"][str(web.ref)]
    assert (shown["currentReplicas"], shown["statusReplicas"], shown["readyReplicas"]) == (5, 6, 4)
    assert [m["proposes"] for m in shown["metrics"]] == [6, 9]
    assert shown["decides"] == "queue" and shown["proposes"] == 9
