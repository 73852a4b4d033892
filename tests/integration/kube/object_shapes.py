"""Hypothesis strategies for Kubernetes objects as a real or misbehaving API server may
send them, and the check that a converted model holds only sensible numbers.

Every field is drawn absent, ``null`` or a value; values include empty lists, unknown
condition types and reasons, quantities in each legal form and some illegal ones,
timestamps near the epoch, at year 1 and year 9999, unicode names and labels, replicas
0 and 2^31-1, and numbers of the wrong type (a string, a float, a bool, NaN).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hypothesis import strategies as st

_MISSING = object()

# Unicode text, surrogates excluded (JSON from a real server cannot carry them).
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
names = st.one_of(st.sampled_from(["web", "ünïcødé-名前", "a" * 253, ""]), text)

# Counts as the API writes them (0, 2^31-1) and as a broken one might: negative, huge,
# fractional, NaN, infinite, a string or a bool.
counts = st.one_of(
    st.integers(0, 2**31 - 1),
    st.sampled_from([0, 1, 2**31 - 1, -1, 2**63, 10**400]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["3", "", "abc", "1e3"]),
    st.booleans(),
)

quantities = st.one_of(
    st.sampled_from(
        [
            *["1.5Gi", "500m", "1e3", "0.1", "+1", ".5", "1.", "1e30", "1e31", "1E-3", "2k"],
            *["9" * 40 + "Ei", "1" * 400, "-1", "abc", "", " 5 ", "1e999"],
        ]
    ),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)

timestamps = st.one_of(
    st.sampled_from(
        [
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:01Z",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-14:00",
            "2024-02-30T00:00:00Z",
            "yesterday",
            "",
        ]
    ),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.integers(),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: absent, null, or drawn from ``strategy``."""
    return st.one_of(st.just(_MISSING), st.none(), strategy)


def fields(**parts: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object whose every key may be absent, null or a value."""
    return st.fixed_dictionaries({key: maybe(value) for key, value in parts.items()}).map(
        lambda drawn: {key: value for key, value in drawn.items() if value is not _MISSING}
    )


def entries(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """A list field: empty, a few entries, or entries that are null."""
    return st.lists(st.one_of(strategy, st.none()), max_size=3)


string_maps = st.one_of(
    st.dictionaries(text, text, max_size=3),
    st.dictionaries(text, st.one_of(st.none(), st.integers()), max_size=2),
    st.lists(text, max_size=2),
    text,
)

condition_types = st.sampled_from(
    ["Ready", "PodScheduled", "Progressing", "Available", "MemoryPressure", "FutureThing"]
)
conditions = entries(
    fields(
        type=st.one_of(condition_types, text),
        status=st.sampled_from(["True", "False", "Unknown", "Maybe"]),
        reason=st.sampled_from(
            ["ProgressDeadlineExceeded", "Unschedulable", "NewReasonIn2030", ""]
        ),
        message=text,
        lastTransitionTime=timestamps,
    )
)

owner_references = entries(
    fields(
        kind=st.sampled_from(["ReplicaSet", "DaemonSet", "StatefulSet", "Node", "Future"]),
        name=names,
        uid=st.sampled_from(["rs-1", "ss-1", ""]),
        controller=st.one_of(st.booleans(), text),
    )
)

managed_fields = entries(
    fields(
        manager=st.sampled_from(["kubectl-edit", "kube-controller-manager", "helm", ""]),
        operation=st.sampled_from(["Update", "Apply"]),
        subresource=st.sampled_from(["status", "scale", ""]),
        time=timestamps,
    )
)


def metadata(namespaced: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    parts: dict[str, st.SearchStrategy[Any]] = {
        "name": names,
        "uid": st.sampled_from(["uid-1", "", "ünï"]),
        "labels": string_maps,
        "annotations": string_maps,
        "ownerReferences": owner_references,
        "generation": counts,
        "creationTimestamp": timestamps,
        "deletionTimestamp": timestamps,
        "managedFields": managed_fields,
    }
    if namespaced:
        parts["namespace"] = names
    return fields(**parts)


resources = fields(
    requests=st.dictionaries(st.sampled_from(["cpu", "memory", "storage"]), quantities),
    limits=st.dictionaries(st.sampled_from(["cpu", "memory"]), quantities),
)
containers = entries(fields(name=names, image=text, resources=resources))
template = fields(metadata=metadata(), spec=fields(containers=containers))


def workload_objects(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return fields(
        metadata=metadata(),
        spec=fields(
            replicas=counts,
            selector=fields(matchLabels=string_maps),
            template=template,
            paused=st.one_of(st.booleans(), text),
            strategy=fields(canary=st.just({}), blueGreen=st.just({})),
            updateStrategy=fields(type=st.sampled_from(["OnDelete", "RollingUpdate", "Next"])),
            workloadRef=fields(kind=st.just("Deployment"), name=names),
        ),
        status=fields(
            readyReplicas=counts,
            updatedReplicas=counts,
            availableReplicas=counts,
            observedGeneration=st.one_of(counts, text),
            conditions=conditions,
            updateRevision=text,
            currentPodHash=text,
            stableRS=text,
            abort=st.booleans(),
            blueGreen=fields(activeSelector=text, previewSelector=text),
        ),
    ).map(lambda obj: {**obj, "kind": kind})


replicasets = entries(
    fields(
        metadata=metadata(),
        spec=fields(template=template),
    )
)

container_statuses = entries(
    fields(
        name=names,
        restartCount=counts,
        state=fields(waiting=fields(reason=st.sampled_from(["CrashLoopBackOff", "Future", ""]))),
        lastState=fields(terminated=fields(reason=st.sampled_from(["OOMKilled", "Error"]))),
    )
)

pods = fields(
    metadata=metadata(),
    spec=fields(
        nodeName=names,
        volumes=entries(fields(name=text, emptyDir=st.just({}))),
        tolerations=entries(
            fields(
                key=text,
                operator=st.sampled_from(["Exists", "Equal", "Future"]),
                value=text,
                effect=st.sampled_from(["NoExecute", "NoSchedule", ""]),
                tolerationSeconds=counts,
            )
        ),
    ),
    status=fields(
        phase=st.sampled_from(["Running", "Pending", "Succeeded", "Failed", "Unknown", "Next"]),
        startTime=timestamps,
        conditions=conditions,
        containerStatuses=container_statuses,
        initContainerStatuses=container_statuses,
    ),
).map(lambda obj: {**obj, "kind": "Pod"})

nodes = fields(
    metadata=metadata(namespaced=False),
    spec=fields(unschedulable=st.one_of(st.booleans(), text)),
    status=fields(conditions=conditions),
).map(lambda obj: {**obj, "kind": "Node"})

metric_types = st.sampled_from(["Resource", "Pods", "Object", "External", "FutureMetric"])
metric_values = fields(averageUtilization=counts, averageValue=quantities, value=quantities)
metric_source = fields(
    name=st.sampled_from(["cpu", "memory"]),
    metric=fields(name=st.sampled_from(["qps"])),
    target=metric_values,
    current=metric_values,
)
metrics = entries(
    fields(
        type=metric_types,
        resource=metric_source,
        pods=metric_source,
        object=metric_source,
        external=metric_source,
    )
)
hpas = fields(
    metadata=metadata(),
    spec=fields(
        scaleTargetRef=fields(kind=st.sampled_from(["Deployment", "Rollout"]), name=names),
        minReplicas=counts,
        maxReplicas=counts,
        metrics=metrics,
        targetCPUUtilizationPercentage=counts,
        behavior=fields(
            scaleUp=fields(
                policies=entries(
                    fields(
                        type=st.sampled_from(["Pods", "Percent", "Future"]),
                        value=counts,
                        periodSeconds=counts,
                    )
                ),
                selectPolicy=st.sampled_from(["Max", "Min", "Disabled", "Future"]),
            )
        ),
    ),
    status=fields(
        currentReplicas=counts,
        desiredReplicas=counts,
        currentMetrics=metrics,
        currentCPUUtilizationPercentage=counts,
        conditions=conditions,
    ),
).map(lambda obj: {**obj, "kind": "HorizontalPodAutoscaler"})

claims = fields(
    metadata=metadata(),
    spec=fields(
        storageClassName=st.one_of(names, st.integers()),
        resources=fields(requests=fields(storage=quantities)),
    ),
    status=fields(
        phase=st.sampled_from(["Bound", "Pending", "Lost", "Future"]),
        capacity=fields(storage=quantities),
        conditions=conditions,
        allocatedResourceStatuses=fields(storage=text),
    ),
).map(lambda obj: {**obj, "kind": "PersistentVolumeClaim"})

budgets = fields(
    metadata=metadata(),
    spec=fields(
        selector=fields(
            matchLabels=string_maps,
            matchExpressions=entries(
                fields(key=text, operator=st.sampled_from(["In", "NotIn"]), values=entries(text))
            ),
        ),
        minAvailable=st.one_of(counts, text),
        maxUnavailable=st.one_of(counts, text),
        unhealthyPodEvictionPolicy=st.sampled_from(["AlwaysAllow", "IfHealthyBudget"]),
    ),
    status=fields(
        disruptionsAllowed=counts,
        currentHealthy=counts,
        desiredHealthy=counts,
        expectedPods=counts,
        observedGeneration=st.one_of(counts, text),
    ),
).map(lambda obj: {**obj, "kind": "PodDisruptionBudget"})


def sensible_numbers(value: Any, where: str = "model") -> None:
    """Assert every number in a converted model (dataclasses, their tuples and dicts) is
    finite, every int a whole count that is not negative and no bool posing as one."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            inner = getattr(value, field.name)
            if field.type in ("int", "int | None") and inner is not None:
                assert type(inner) is int, f"{where}.{field.name} = {inner!r} is no int"
            sensible_numbers(inner, f"{where}.{field.name}")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        assert value >= 0, f"{where} = {value} is negative"
    elif isinstance(value, float):
        assert math.isfinite(value), f"{where} = {value} is not finite"
    elif isinstance(value, tuple | list):
        for index, inner in enumerate(value):
            sensible_numbers(inner, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, inner in value.items():
            assert isinstance(key, str), f"{where} has key {key!r}"
            sensible_numbers(inner, f"{where}[{key!r}]")
