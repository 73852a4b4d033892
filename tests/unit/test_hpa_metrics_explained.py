"""What each of an HPA's metrics proposes (kubernetes/kubernetes#109538), worked out from
the HPA's status: the pure step (``forecasting.hpa_metrics``) and the reading of the
HPA object (``kube_state.metric_readings``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agent.adapters.kube_state import hpa_state, metric_readings, workload_state
from forecasting.hpa_metrics import MetricReading, explain_metrics


def pct(name: str, target: float, current: float | None) -> MetricReading:
    return MetricReading("Resource", name, "Utilization", target, current)


def test_each_metric_proposes_and_the_largest_decides() -> None:
    """cpu at 91 % of 70 % on 5 pods: ceil(1.3 * 5) = 7; requests at 1.8 of their
    per-pod target: ceil(1.8 * 5) = 9, which decides."""
    readings = [
        pct("cpu", 70, 91),
        MetricReading("Pods", "http_requests", "AverageValue", 100, 180, "100", "180"),
    ]
    breakdown = explain_metrics(readings, 5)
    assert [p.replicas for p in breakdown.proposals] == [7, 9]
    assert breakdown.deciding is not None and breakdown.deciding.label == "http_requests"
    assert breakdown.replicas == 9 and not breakdown.held_by_missing
    said = breakdown.sentence()
    assert "cpu (91 of 70) proposes 7" in said
    assert "http_requests (180 of 100) proposes 9 (decides)" in said


def test_a_tie_is_decided_by_the_first_metric_in_the_spec() -> None:
    breakdown = explain_metrics([pct("cpu", 50, 100), pct("memory", 50, 100)], 3)
    assert [p.replicas for p in breakdown.proposals] == [6, 6]
    assert breakdown.decides == 0


@pytest.mark.parametrize(
    ("current", "proposes", "within"),
    [
        (90, 10, True),  # ratio 0.9: the band's lower edge, inclusive
        (110, 10, True),  # 1.1: the upper edge
        (89, 9, False),  # 0.89: out, ceil(8.9)
        (112, 12, False),  # 1.12: out, ceil(11.2)
    ],
)
def test_inside_the_tolerance_band_a_metric_proposes_the_current_count(
    current: float, proposes: int, within: bool
) -> None:
    (proposal,) = explain_metrics([pct("cpu", 100, current)], 10).proposals
    assert (proposal.replicas, proposal.within_tolerance) == (proposes, within)


@pytest.mark.parametrize(
    ("target", "current", "shown"),
    [
        (0.1, 0.09, ("100m", "90m")),  # 0.09 / 0.1 is 0.8999999999999999 in floats
        (0.2, 0.18, ("200m", "180m")),
        (0.05, 0.045, ("50m", "45m")),
    ],
)
def test_a_quantity_right_on_the_bands_edge_is_inside_it_as_for_the_controller(
    target: float, current: float, shown: tuple[str, str]
) -> None:
    """The controller divides whole milli-units (90 / 100 = 0.9, inside the inclusive
    band); dividing the floats the quantities read as put such a reading just outside,
    and the breakdown said 9 replicas where the HPA stays at 10."""
    reading = MetricReading("Pods", "rps", "AverageValue", target, current, *shown)
    (proposal,) = explain_metrics([reading], 10).proposals
    assert (proposal.replicas, proposal.within_tolerance) == (10, True)
    assert proposal.ratio == 0.9


def test_a_replica_count_past_any_float_proposes_nothing_rather_than_raise() -> None:
    """An HPA status read with a currentReplicas of 10**400 (a whole number, which the
    adapter takes) raised OverflowError out of the scaling loop's listing."""
    readings = [pct("cpu", 70, 91), MetricReading("External", "q", "Value", 10, 30)]
    breakdown = explain_metrics(readings, 10**400)
    assert [p.replicas for p in breakdown.proposals] == [None, None]
    assert breakdown.replicas is None
    assert "cpu cannot be worked out at so many replicas" in breakdown.sentence()


def test_a_proposal_past_an_int32_is_the_controllers_cap() -> None:
    """The controller caps a proposal at the largest int32; the breakdown said an
    External metric at 2**70 of a target of 1 proposes 5902958103587056517120."""
    reading = MetricReading("External", "queue", "Value", 1, float(2**70))
    for replicas in (5, 0):
        (proposal,) = explain_metrics([reading], replicas).proposals
        assert proposal.replicas == 2**31 - 1


def test_a_status_with_no_reading_at_all_is_not_said_to_stop_the_hpa() -> None:
    """The controller writes no currentMetrics when it does not read its metrics: its
    replicas below minReplicas (just after Autonomic raised the floor: it scales up to
    it), above maxReplicas, or at 0. The sentence said the HPA does not scale."""
    readings = [pct("cpu", 70, None), MetricReading("Pods", "rps", "AverageValue", 100, None)]
    said = explain_metrics(readings, 3).sentence()
    assert "does not scale" not in said.replace("(it does not scale)", "")
    assert "its replicas were outside its min/max or at 0" in said
    # One metric unreadable and none other proposing: that one does stop it.
    said = explain_metrics([pct("cpu", 70, None), pct("memory", 0, 50)], 3).sentence()
    assert "no metric can be computed, so the HPA does not scale" in said


def test_the_hpas_own_tolerances_are_used_when_set() -> None:
    (proposal,) = explain_metrics(
        [pct("cpu", 100, 105)], 10, tolerance_up=0.02, tolerance_down=0.3
    ).proposals
    assert proposal.replicas == 11  # 1.05 is out of a 2 % band
    (proposal,) = explain_metrics(
        [pct("cpu", 100, 75)], 10, tolerance_up=0.02, tolerance_down=0.3
    ).proposals
    assert proposal.replicas == 10  # 0.75 is inside a 30 % band downward


def test_a_metric_with_no_reading_keeps_the_hpa_from_scaling_down() -> None:
    """The controller scales up on the metrics it can read, but never down while one
    cannot be read: the count stays where it is."""
    readings = [pct("cpu", 80, 40), MetricReading("External", "queue", "Value", 100, None)]
    breakdown = explain_metrics(readings, 6)
    assert [p.replicas for p in breakdown.proposals] == [3, None]
    assert breakdown.proposals[1].why == "has no reading"
    assert breakdown.replicas == 6 and breakdown.held_by_missing
    assert "queue has no reading" in breakdown.sentence()
    assert "does not scale down" in breakdown.sentence()
    # Up is still up.
    readings[0] = pct("cpu", 80, 160)
    breakdown = explain_metrics(readings, 6)
    assert breakdown.replicas == 12 and not breakdown.held_by_missing


def test_no_metric_with_a_reading_proposes_nothing() -> None:
    breakdown = explain_metrics([pct("cpu", 80, None)], 4)
    assert breakdown.replicas is None and breakdown.decides is None
    assert "does not scale" in breakdown.sentence()


def test_a_value_target_is_the_whole_value_and_scales_from_zero() -> None:
    """Object (and External) with a ``Value`` target: the ratio is the whole value over
    the target; ceil(ratio * pods), and at 0 pods ceil(ratio) with no band."""
    lag = MetricReading("Object", "lag", "Value", 100, 250)
    (proposal,) = explain_metrics([lag], 4).proposals
    assert proposal.ratio == pytest.approx(2.5) and proposal.replicas == 10
    (proposal,) = explain_metrics([lag], 0).proposals
    assert proposal.replicas == 3
    small = MetricReading("External", "queue", "Value", 100, 105)
    (proposal,) = explain_metrics([small], 0).proposals
    assert proposal.replicas == 2  # no band at zero: ceil(1.05)
    # Per-pod kinds have no pods to read at 0.
    (proposal,) = explain_metrics([pct("cpu", 50, 90)], 0).proposals
    assert proposal.replicas is None and "0 replicas" in proposal.why


def test_an_average_value_target_reads_the_per_pod_share() -> None:
    """The status reports an Object or External AverageValue metric per pod (the total
    over the replicas), so 4 pods reporting 30 against 20 make a total of 120:
    ceil(120 / 20) = 6."""
    (proposal,) = explain_metrics(
        [MetricReading("External", "queue", "AverageValue", 20, 30)], 4
    ).proposals
    assert proposal.replicas == 6


def test_a_reading_too_large_proposes_nothing_rather_than_raise() -> None:
    huge = MetricReading("Pods", "x", "AverageValue", 1e-300, 1e300)
    (proposal,) = explain_metrics([huge], 3).proposals
    assert proposal.replicas is None and "too large" in proposal.why


def resource(name: str, target: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "target": target}}


def current(kind: str, name: str, **value: Any) -> dict[str, Any]:
    field = {"Resource": "resource", "Pods": "pods", "Object": "object", "External": "external"}
    source: dict[str, Any] = {"current": value}
    if kind == "Resource":
        source["name"] = name
    else:
        source["metric"] = {"name": name}
    return {"type": kind, field[kind]: source}


def test_the_adapter_pairs_each_spec_metric_with_its_reading() -> None:
    spec = {
        "metrics": [
            resource("cpu", {"type": "Utilization", "averageUtilization": 70}),
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "http_requests"},
                    "target": {"type": "AverageValue", "averageValue": "100"},
                },
            },
            {
                "type": "Object",
                "object": {
                    "metric": {"name": "lag"},
                    "describedObject": {"kind": "Service", "name": "kafka"},
                    "target": {"type": "Value", "value": "2k"},
                },
            },
            {
                "type": "External",
                "external": {
                    "metric": {"name": "queue"},
                    "target": {"type": "AverageValue", "averageValue": "500m"},
                },
            },
        ]
    }
    lag = current("Object", "lag", value="3k")
    lag["object"]["describedObject"] = {"kind": "Service", "name": "kafka"}
    status = {
        "currentMetrics": [
            current("Pods", "http_requests", averageValue="180"),
            current("Resource", "cpu", averageUtilization=91, averageValue="455m"),
            lag,
            # the entry the controller leaves for a metric it could not read: no type
            {"type": ""},
        ]
    }
    readings = metric_readings(spec, status)
    assert [(r.kind, r.name, r.target_type, r.target, r.current) for r in readings] == [
        ("Resource", "cpu", "Utilization", 70.0, 91.0),
        ("Pods", "http_requests", "AverageValue", 100.0, 180.0),
        ("Object", "lag", "Value", 2000.0, 3000.0),
        ("External", "queue", "AverageValue", 0.5, None),
    ]
    assert (readings[0].target_text, readings[0].current_text) == ("70%", "91%")
    assert (readings[2].target_text, readings[2].current_text) == ("2k", "3k")
    breakdown = explain_metrics(readings, 5)
    assert [p.replicas for p in breakdown.proposals] == [7, 9, 8, None]
    assert breakdown.deciding is not None and breakdown.deciding.label == "http_requests"


def test_an_object_metric_of_another_object_is_not_its_reading() -> None:
    spec = {
        "metrics": [
            {
                "type": "Object",
                "object": {
                    "metric": {"name": "lag"},
                    "describedObject": {"kind": "Service", "name": "kafka"},
                    "target": {"type": "Value", "value": "10"},
                },
            }
        ]
    }
    other = current("Object", "lag", value="30")
    other["object"]["describedObject"] = {"kind": "Service", "name": "rabbit"}
    (reading,) = metric_readings(spec, {"currentMetrics": [other]})
    assert reading.current is None


def test_autoscaling_v1_cpu_fields_read_as_one_cpu_metric() -> None:
    spec = {"targetCPUUtilizationPercentage": 50}
    (reading,) = metric_readings(spec, {"currentCPUUtilizationPercentage": 65})
    assert (reading.kind, reading.name, reading.target_type) == ("Resource", "cpu", "Utilization")
    assert (reading.target, reading.current) == (50.0, 65.0)
    (proposal,) = explain_metrics((reading,), 4).proposals
    assert proposal.replicas == 6  # ceil(1.3 * 4)
    (reading,) = metric_readings(spec, {})
    assert reading.current is None


def test_a_target_without_its_type_is_read_by_the_field_it_sets() -> None:
    spec = {"metrics": [resource("memory", {"averageValue": "1Gi"})]}
    status = {"currentMetrics": [current("Resource", "memory", averageValue="1536Mi")]}
    (reading,) = metric_readings(spec, status)
    assert reading.target_type == "AverageValue"
    assert reading.current == pytest.approx(1.5 * reading.target)  # type: ignore[operator]


def test_hpa_state_carries_the_readings_and_tolerances() -> None:
    hpa = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 20,
            "metrics": [resource("cpu", {"type": "Utilization", "averageUtilization": 70})],
            "behavior": {"scaleUp": {"tolerance": "0.05"}, "scaleDown": {"tolerance": -1}},
        },
        "status": {
            "currentReplicas": 5,
            "currentMetrics": [current("Resource", "cpu", averageUtilization=91)],
        },
    }
    state = hpa_state(hpa)
    assert [r.name for r in state.metrics] == ["cpu"]
    assert state.tolerance_up == pytest.approx(0.05)
    assert state.tolerance_down is None  # a negative one the API server refuses


@pytest.mark.parametrize(("written", "read"), [("2", 2.0), (1.5, 1.5), ("1500m", 1.5)])
def test_a_tolerance_above_1_is_the_hpas_own(written: object, read: float) -> None:
    """autoscaling/v2 takes any tolerance that is not negative. One above 1 was read as
    unset (the default 0.1), and cpu at 1.5 times its target was said to propose 15
    replicas where the controller, with a scale-up tolerance of 2, stays at 10."""
    hpa = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 20,
            "metrics": [resource("cpu", {"type": "Utilization", "averageUtilization": 60})],
            "behavior": {"scaleUp": {"tolerance": written}},
        },
        "status": {
            "currentReplicas": 10,
            "currentMetrics": [current("Resource", "cpu", averageUtilization=90)],
        },
    }
    state = hpa_state(hpa)
    assert state.tolerance_up == pytest.approx(read)
    breakdown = explain_metrics(
        state.metrics, 10, tolerance_up=state.tolerance_up, tolerance_down=state.tolerance_down
    )
    assert breakdown.replicas == 10 and breakdown.proposals[0].within_tolerance


def test_two_metrics_of_one_name_are_told_apart_by_their_selector() -> None:
    def queue(which: str, **part: Any) -> dict[str, Any]:
        return {
            "type": "External",
            "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": which}}}}
            | part,
        }

    spec = {
        "metrics": [
            queue("orders", target={"type": "Value", "value": "100"}),
            queue("mail", target={"type": "Value", "value": "100"}),
        ]
    }
    status = {"currentMetrics": [queue("mail", current={"value": "300"})]}
    readings = metric_readings(spec, status)
    assert [r.current for r in readings] == [None, 300.0]


def test_an_odd_metric_shape_reads_as_no_target_and_the_hpa_still_reads() -> None:
    """Explaining must not make an HPA that reads otherwise unreadable: a target that is
    no object is a metric without a target."""
    hpa = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 20,
            "metrics": [
                resource("cpu", {"type": "Utilization", "averageUtilization": 70}),
                {"type": "Pods", "pods": {"metric": {"name": "x"}, "target": "oops"}},
                "not an object",
            ],
        },
        "status": {"currentReplicas": 3},
    }
    state = hpa_state(hpa)
    assert [(r.name, r.target) for r in state.metrics] == [("cpu", 70.0), ("x", None)]
    proposals = explain_metrics(state.metrics, 3).proposals
    assert [p.why for p in proposals] == ["has no reading", "has no target that can be read"]


# Which replica count the controller uses, per metric kind and target type
# (kubernetes/kubernetes pkg/controller/podautoscaler: computeReplicasForMetrics passes
# specReplicas or statusReplicas; replica_calculator.go's calculators). Each test below
# names the controller function it follows.


def test_an_average_value_object_metric_inside_the_band_proposes_the_status_replicas() -> None:
    """``GetObjectPerPodMetricReplicas(statusReplicas, ...)``: inside the band the
    proposal is ``statusReplicas`` (the scale's status.replicas), not the spec count.
    Mid-rollout, 4 replicas wanted and 6 pods up reading 100 a pod of 100: 6."""
    reading = MetricReading("Object", "rps", "AverageValue", 100, 100)
    (proposal,) = explain_metrics([reading], 4, status_replicas=6, ready_replicas=4).proposals
    assert (proposal.replicas, proposal.within_tolerance) == (6, True)


def test_an_average_value_external_metric_outside_the_band_is_the_total_over_its_target() -> None:
    """``GetExternalPerPodMetricReplicas(statusReplicas, ...)``: outside the band,
    ``ceil(total / target)``, the total being the reading (per pod) times statusReplicas:
    30 a pod over 6 pods is 180, of 20 a pod: 9 (the spec's 4 would say 6)."""
    reading = MetricReading("External", "queue", "AverageValue", 20, 30)
    breakdown = explain_metrics([reading], 4, status_replicas=6, ready_replicas=3)
    assert breakdown.proposals[0].replicas == 9 and breakdown.proposals[0].at_least is None
    assert breakdown.replicas == 9
    assert breakdown.as_dict()["statusReplicas"] == 6


def test_a_per_pod_reading_rounded_up_gives_both_proposals_it_allows() -> None:
    """``GetExternalPerPodMetricReplicas`` reports ``ceil(total / statusReplicas)``
    milli-units: a queue of 10 over 3 pods reads 3334m, which a total of 10 (proposes
    ceil(10 / 5) = 2) and of 10.002 (proposes 3) both give. Both are said."""
    reading = MetricReading("External", "queue", "AverageValue", 5, 3.334, "5", "3334m")
    breakdown = explain_metrics([reading], 3, status_replicas=3, ready_replicas=3)
    (proposal,) = breakdown.proposals
    assert (proposal.at_least, proposal.replicas) == (2, 3)
    assert proposal.as_dict()["proposesAtLeast"] == 2
    assert "queue (3334m of 5) proposes 2 to 3" in breakdown.sentence()


def test_a_per_pod_reading_over_no_pods_proposes_nothing() -> None:
    """``GetObjectPerPodMetricReplicas`` at statusReplicas 0 divides the total by 0 for
    its reading, so the reading tells no total (the controller's own proposal is
    ``ceil(total / target)``, which cannot be redone from it)."""
    reading = MetricReading("Object", "rps", "AverageValue", 100, 50)
    (proposal,) = explain_metrics([reading], 2, status_replicas=0, ready_replicas=0).proposals
    assert proposal.replicas is None and "0 pods" in proposal.why


def test_a_value_target_outside_the_band_scales_the_ready_pods() -> None:
    """``GetObjectMetricReplicas(specReplicas, ...)`` / ``getUsageRatioReplicaCount``:
    inside the band the spec count, outside ``ceil(ratio * readyPodCount)`` (pods Running
    and Ready). 4 wanted, 3 ready, 250 of 100: ceil(2.5 * 3) = 8."""
    lag = MetricReading("Object", "lag", "Value", 100, 250)
    (proposal,) = explain_metrics([lag], 4, status_replicas=4, ready_replicas=3).proposals
    assert proposal.replicas == 8
    near = MetricReading("External", "lag", "Value", 100, 105)
    (proposal,) = explain_metrics([near], 4, status_replicas=4, ready_replicas=3).proposals
    assert (proposal.replicas, proposal.within_tolerance) == (4, True)
    # No pod ready: the controller's ceil(ratio * 0) is 0.
    (proposal,) = explain_metrics([lag], 4, status_replicas=4, ready_replicas=0).proposals
    assert proposal.replicas == 0


@pytest.mark.parametrize(
    "reading",
    [
        MetricReading("Resource", "cpu", "Utilization", 70, 91),
        MetricReading("ContainerResource", "cpu of container app", "Utilization", 70, 91),
        MetricReading("Resource", "memory", "AverageValue", 100, 130),
        MetricReading("Pods", "rps", "AverageValue", 100, 130),
    ],
)
def test_a_pod_read_metric_outside_the_band_scales_the_ready_pods(
    reading: MetricReading,
) -> None:
    """``GetResourceReplicas`` / ``GetRawResourceReplicas`` / ``GetMetricReplicas``
    (``calcPlainMetricReplicas``), given specReplicas: inside the band the spec count,
    outside ``ceil(ratio * readyPodCount)``. 5 wanted, 4 ready, 1.3 of target:
    ceil(5.2) = 6 (the spec count would say 7)."""
    (proposal,) = explain_metrics([reading], 5, status_replicas=5, ready_replicas=4).proposals
    assert proposal.replicas == 6
    inside = dataclasses.replace(reading, current=reading.target)
    (proposal,) = explain_metrics([inside], 5, status_replicas=6, ready_replicas=4).proposals
    assert (proposal.replicas, proposal.within_tolerance) == (5, True)


def test_after_a_proposal_of_0_the_next_metric_decides() -> None:
    """``computeReplicasForMetrics`` replaces its choice when ``replicas == 0 ||
    replicaCountProposal > replicas``: after a 0, the next metric's 0 decides."""
    idle = [
        MetricReading("External", "queue", "Value", 10, 0),
        MetricReading("External", "lag", "Value", 10, 0),
    ]
    breakdown = explain_metrics(idle, 0)
    assert [p.replicas for p in breakdown.proposals] == [0, 0]
    assert breakdown.decides == 1


def test_a_container_resource_metric_reads_and_proposes_as_a_resource_one() -> None:
    """``computeStatusForContainerResourceMetric`` runs the same calculator as a
    Resource metric (``GetResourceReplicas`` with the container's requests), given
    specReplicas, and reports ``containerResource.current``. One metric of several
    without a reading (the empty entry the controller writes for it) stops a scale
    down (``invalidMetricsCount > 0 && replicas < specReplicas``) but not a scale up."""
    spec = {
        "metrics": [
            {
                "type": "ContainerResource",
                "containerResource": {
                    "name": "cpu",
                    "container": "app",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            },
            resource("memory", {"type": "Utilization", "averageUtilization": 80}),
        ]
    }

    def status(app: int) -> dict[str, Any]:
        entry = {
            "type": "ContainerResource",
            "containerResource": {
                "name": "cpu",
                "container": "app",
                "current": {"averageUtilization": app, "averageValue": "90m"},
            },
        }
        return {"currentMetrics": [entry, {"type": ""}]}

    readings = metric_readings(spec, status(90))
    assert [(r.kind, r.name, r.current) for r in readings] == [
        ("ContainerResource", "cpu of container app", 90.0),
        ("Resource", "memory", None),
    ]
    breakdown = explain_metrics(readings, 4, status_replicas=4, ready_replicas=4)
    assert [p.replicas for p in breakdown.proposals] == [6, None]
    assert breakdown.replicas == 6 and not breakdown.held_by_missing
    breakdown = explain_metrics(metric_readings(spec, status(30)), 4, ready_replicas=4)
    assert [p.replicas for p in breakdown.proposals] == [2, None]
    assert breakdown.replicas == 4 and breakdown.held_by_missing


def test_the_workload_reads_its_status_replicas() -> None:
    """The scale's status.replicas (the count the per-pod calculators divide by) is
    the workload's; left out it is 0, as the API leaves a 0 out; unreadable, None."""
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 4},
        "status": {"replicas": 6, "readyReplicas": 3},
    }
    state = workload_state(deployment)
    assert (state.replicas, state.status_replicas, state.ready_replicas) == (4, 6, 3)
    del deployment["status"]["replicas"]
    assert workload_state(deployment).status_replicas == 0
    deployment["status"]["replicas"] = "six"
    assert workload_state(deployment).status_replicas is None


def test_a_rollouts_status_replicas_is_its_hpa_replicas() -> None:
    """An Argo Rollout's scale subresource reads ``status.HPAReplicas`` (the CRD's
    ``statusReplicasPath``), not ``status.replicas``: mid blue-green, 4 active pods and 4
    preview ones are 8 pods but 4 to the HPA, so a queue of 30 a pod of 20 is 120 in all
    and proposes 6 (dividing by 8 would make it 240 and propose 12)."""
    rollout: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 4, "strategy": {"blueGreen": {"activeService": "web"}}},
        "status": {"replicas": 8, "HPAReplicas": 4, "readyReplicas": 8},
    }
    state = workload_state(rollout)
    assert state.status_replicas == 4
    queue = MetricReading("External", "queue", "AverageValue", 20, 30)
    breakdown = explain_metrics(
        [queue], state.replicas, status_replicas=state.status_replicas, ready_replicas=4
    )
    assert breakdown.replicas == 6
    # Left out (omitempty) it is 0, as the API leaves a 0 out.
    del rollout["status"]["HPAReplicas"]
    assert workload_state(rollout).status_replicas == 0


def test_a_proposal_left_open_leaves_the_count_open_too() -> None:
    """The queue's reading (3334m of 5 over 3 pods) allows 2 or 3 and cpu proposes 2:
    the count the metrics lead to is 2 or 3, not 3 for sure. ``proposes`` stays the
    largest and ``proposesAtLeast`` gives the smallest, as for a metric."""
    cpu = MetricReading("Resource", "cpu", "Utilization", 70, 40)
    queue = MetricReading("External", "queue", "AverageValue", 5, 3.334, "5", "3334m")
    breakdown = explain_metrics([cpu, queue], 3, status_replicas=3, ready_replicas=3)
    assert [(p.at_least, p.replicas) for p in breakdown.proposals] == [(None, 2), (2, 3)]
    shown = breakdown.as_dict()
    assert (shown["proposesAtLeast"], shown["proposes"]) == (2, 3)
    # One number when every proposal is: no proposesAtLeast.
    alone = explain_metrics([cpu], 3, status_replicas=3, ready_replicas=3)
    assert "proposesAtLeast" not in alone.as_dict() and alone.as_dict()["proposes"] == 2
