"""The HPA's readings against its targets, as the scaling loop learns capacity from them."""

from __future__ import annotations

from typing import Any

import pytest

from agent.adapters.kube_state import usage_ratio


def resource(name: str, **target: Any) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "target": target}}


def reading(name: str, **current: Any) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "current": current}}


def test_a_utilisation_target_and_its_reading() -> None:
    spec = {"metrics": [resource("cpu", type="Utilization", averageUtilization=80)]}
    status = {"currentMetrics": [reading("cpu", averageUtilization=60)]}
    assert usage_ratio(spec, status) == pytest.approx(0.75)


def test_the_metric_furthest_over_its_target_is_the_one_that_counts() -> None:
    spec = {
        "metrics": [
            resource("cpu", type="Utilization", averageUtilization=80),
            resource("memory", type="AverageValue", averageValue="1Gi"),
        ]
    }
    status = {
        "currentMetrics": [
            reading("memory", averageValue="1536Mi"),  # 1.5 of its target, listed first
            reading("cpu", averageUtilization=40),
        ]
    }
    assert usage_ratio(spec, status) == pytest.approx(1.5)


def test_external_and_object_metrics_with_plain_values() -> None:
    spec = {
        "metrics": [
            {
                "type": "External",
                "external": {"metric": {"name": "queue"}, "target": {"value": "100"}},
            }
        ]
    }
    status = {
        "currentMetrics": [
            {
                "type": "External",
                "external": {"metric": {"name": "queue"}, "current": {"value": "30"}},
            }
        ]
    }
    assert usage_ratio(spec, status) == pytest.approx(0.3)


def test_autoscaling_v1_cpu_fields() -> None:
    spec = {"targetCPUUtilizationPercentage": 50}
    assert usage_ratio(spec, {"currentCPUUtilizationPercentage": 65}) == pytest.approx(1.3)


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({}, {}),  # no metrics at all
        ({"metrics": [resource("cpu", averageUtilization=80)]}, {}),  # no reading yet
        (  # a reading for a metric the spec does not name
            {"metrics": [resource("cpu", averageUtilization=80)]},
            {"currentMetrics": [reading("memory", averageUtilization=60)]},
        ),
        (  # a zero target cannot be divided by
            {"metrics": [resource("cpu", averageUtilization=0)]},
            {"currentMetrics": [reading("cpu", averageUtilization=60)]},
        ),
        (  # a malformed quantity is not guessed
            {"metrics": [resource("memory", averageValue="lots")]},
            {"currentMetrics": [reading("memory", averageValue="1Gi")]},
        ),
        ({"metrics": ["cpu"]}, {"currentMetrics": [None]}),  # not even objects
    ],
)
def test_no_usable_pair_means_no_reading(spec: dict[str, Any], status: dict[str, Any]) -> None:
    assert usage_ratio(spec, status) is None


def test_a_metric_without_a_reading_means_no_reading() -> None:
    """CPU and a custom metric; the custom-metrics adapter is down, so the HPA's status
    has CPU only (the failed metric is an empty entry, `<unknown>` in kubectl). The HPA
    sizes on the largest share, which is not known now: the ratio used to be CPU's 0.5
    (the queue metric, usually the larger, left out), so the capacity learned from it
    came out twice too high and the floors sized with it too low."""
    queue = {
        "type": "Pods",
        "pods": {"metric": {"name": "queue_depth"}, "target": {"averageValue": "10"}},
    }
    spec = {"metrics": [resource("cpu", type="Utilization", averageUtilization=80), queue]}
    cpu_only = {"currentMetrics": [reading("cpu", averageUtilization=40), {"type": ""}]}
    assert usage_ratio(spec, cpu_only) is None
    both = {
        "currentMetrics": [
            reading("cpu", averageUtilization=40),
            {
                "type": "Pods",
                "pods": {"metric": {"name": "queue_depth"}, "current": {"averageValue": "10"}},
            },
        ]
    }
    assert usage_ratio(spec, both) == pytest.approx(1.0)
