"""Helpers that put realistic objects into a fake cluster.

The fake runs no controllers, so these helpers build what the Deployment controller,
the scheduler and the kubelet would have left behind: a Deployment with one
ReplicaSet per revision (``deployment.kubernetes.io/revision`` annotations,
``pod-template-hash`` labels, controller ownerReferences), and Ready pods for the
newest ReplicaSet spread over the given nodes. ``seed_rollout`` does the same for an
Argo Rollout, as its controller leaves it, and ``seed_rollout_canary`` the canary
ReplicaSet its canary strategy starts for a new template. ``seed_claim`` makes a bound
PersistentVolumeClaim as its provisioner leaves it; nothing resizes a claim's volume
until a test says so with ``finish_resize`` (the resizer's and the kubelet's part).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from tests.fakekube.store import Store

__all__ = [
    "finish_resize",
    "seed_claim",
    "seed_daemonset_pod",
    "seed_deployment",
    "seed_hpa",
    "seed_node",
    "seed_pdb",
    "seed_rollout",
    "seed_rollout_canary",
    "seed_statefulset",
    "seed_storage_class",
]

Obj = dict[str, Any]


def _template(app: str, image: str, resources: Obj | None = None) -> Obj:
    container: Obj = {"name": app, "image": image}
    if resources is not None:
        container["resources"] = resources
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [container]}}


def owner_reference(obj: Obj) -> Obj:
    """The ``ownerReferences`` entry a controller puts on what it owns."""
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


_owner = owner_reference


def pod_status(
    *,
    ready: bool = True,
    restarts: int = 0,
    waiting: str | None = None,
    last_termination: str | None = None,
    exit_code: int = 1,
    started: str = "2026-11-22T09:00:00Z",
    phase: str = "Running",
) -> Obj:
    """A pod status as the kubelet reports it, for one container named ``main``."""
    state: Obj = (
        {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": started}}
    )
    last: Obj = (
        {"terminated": {"reason": last_termination, "exitCode": exit_code}}
        if last_termination
        else {}
    )
    return {
        "phase": phase,
        "startTime": started,
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ],
        "containerStatuses": [
            {
                "name": "main",
                "ready": ready,
                "restartCount": restarts,
                "image": "x",
                "imageID": "",
                "state": state,
                "lastState": last,
            }
        ],
    }


def _pod_status(ready: bool, restarts: int = 0, waiting: str | None = None) -> Obj:
    return pod_status(ready=ready, restarts=restarts, waiting=waiting)


def seed_pod(
    store: Store,
    name: str,
    *,
    namespace: str,
    owner: Obj,
    template: Obj,
    node: str,
    status: Obj,
) -> Obj:
    """A pod owned by ``owner`` (a ReplicaSet), from ``template``, on ``node``."""
    return store.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [owner_reference(owner)],
            },
            "spec": {"nodeName": node, "containers": template["spec"]["containers"]},
            "status": status,
        }
    )


def seed_node(store: Store, name: str, *, ready: bool = True, unschedulable: bool = False) -> Obj:
    return store.put(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if ready else "False",
                        "lastTransitionTime": "2026-11-22T08:00:00Z",
                    },
                    {"type": "MemoryPressure", "status": "False"},
                ]
            },
        }
    )


def seed_deployment(
    store: Store,
    name: str,
    *,
    namespace: str = "default",
    replicas: int = 3,
    images: Sequence[str] = ("app:v1", "app:v2"),
    nodes: Sequence[str] = ("node-1",),
    ready: bool = True,
    labels: dict[str, str] | None = None,
    resources: Obj | None = None,
) -> Obj:
    """A Deployment at revision ``len(images)``, one ReplicaSet per image, and pods.

    Returns ``{"deployment": ..., "replicasets": [...], "pods": [...]}`` as stored.
    """
    revision = len(images)
    deployment = store.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app": name, **(labels or {})},
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": _template(name, images[-1], resources),
                "strategy": {"type": "RollingUpdate"},
            },
            "status": {
                "observedGeneration": 1,
                "replicas": replicas,
                "readyReplicas": replicas if ready else 0,
                "updatedReplicas": replicas,
                "availableReplicas": replicas if ready else 0,
                "conditions": [
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                ],
            },
        }
    )
    replicasets, pods = [], []
    for number, image in enumerate(images, start=1):
        template = _template(name, image, resources)
        pod_hash = hashlib.sha256(f"{name}{image}".encode()).hexdigest()[:10]
        template["metadata"]["labels"]["pod-template-hash"] = pod_hash
        count = replicas if number == revision else 0
        rs = store.put(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{name}-{pod_hash}",
                    "namespace": namespace,
                    "labels": {"app": name, "pod-template-hash": pod_hash},
                    "annotations": {"deployment.kubernetes.io/revision": str(number)},
                    "ownerReferences": [_owner(deployment)],
                },
                "spec": {
                    "replicas": count,
                    "selector": {"matchLabels": {"app": name, "pod-template-hash": pod_hash}},
                    "template": template,
                },
                "status": {"replicas": count, "readyReplicas": count if ready else 0},
            }
        )
        replicasets.append(rs)
        for index in range(count):
            pods.append(
                seed_pod(
                    store,
                    f"{rs['metadata']['name']}-{index:05d}",
                    namespace=namespace,
                    owner=rs,
                    template=template,
                    node=nodes[index % len(nodes)],
                    status=_pod_status(ready),
                )
            )
    return {"deployment": deployment, "replicasets": replicasets, "pods": pods}


def seed_rollout(
    store: Store,
    name: str,
    *,
    namespace: str = "default",
    replicas: int = 3,
    image: str = "app:v1",
    nodes: Sequence[str] = ("node-1",),
    workload_ref: str | None = None,
    blue_green: bool = False,
) -> Obj:
    """An Argo Rollout (``argoproj.io/v1alpha1``) at revision 1, its ReplicaSet (owned by
    the Rollout, with ``rollout.argoproj.io/revision`` and ``rollouts-pod-template-hash``)
    and Ready pods. ``workload_ref``: the Rollout takes its pod template from that
    Deployment (``spec.workloadRef``) instead of holding one. ``blue_green``: the
    blueGreen strategy (active Service ``<name>``, preview ``<name>-preview``, promoted by
    hand after a prePromotionAnalysis), with ``status.blueGreen`` as Argo writes it: both
    Services select the one ReplicaSet.

    Returns ``{"rollout": ..., "replicaset": ..., "pods": [...]}`` as stored.
    """
    template = _template(name, image)
    pod_hash = hashlib.sha256(f"rollout{name}{image}".encode()).hexdigest()[:10]
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
    }
    if blue_green:
        spec["strategy"] = {
            "blueGreen": {
                "activeService": name,
                "previewService": f"{name}-preview",
                "autoPromotionEnabled": False,
                "prePromotionAnalysis": {"templates": [{"templateName": "autonomic-verdict"}]},
            }
        }
    if workload_ref is None:
        spec["template"] = template
    else:
        spec["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload_ref}
    rollout = store.put(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app": name},
                "annotations": {"rollout.argoproj.io/revision": "1"},
            },
            "spec": spec,
            "status": {
                "observedGeneration": "1",  # a string, as Argo writes it
                "phase": "Healthy",
                "replicas": replicas,
                "readyReplicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "HPAReplicas": replicas,
                "selector": f"app={name}",
                "currentPodHash": pod_hash,
                "stableRS": pod_hash,
                **(
                    {"blueGreen": {"activeSelector": pod_hash, "previewSelector": pod_hash}}
                    if blue_green
                    else {}
                ),
                "conditions": [
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                    {"type": "Available", "status": "True", "reason": "AvailableReason"},
                ],
            },
        }
    )
    rs, pods = _rollout_replicaset(
        store, rollout, template, pod_hash, revision=1, replicas=replicas, nodes=nodes
    )
    return {"rollout": rollout, "replicaset": rs, "pods": pods}


def seed_rollout_canary(
    store: Store,
    name: str,
    *,
    namespace: str = "default",
    image: str,
    replicas: int = 1,
    nodes: Sequence[str] = ("node-1",),
) -> Obj:
    """A canary step of the Rollout ``name`` (seeded by ``seed_rollout``), as Argo's
    controller leaves it: the Rollout's template runs ``image`` at the next revision, a
    new ReplicaSet (its ``rollouts-pod-template-hash``, owned by the Rollout) with Ready
    pods named ``<name>-<hash>-<n>``, and ``status.currentPodHash`` naming it while
    ``status.stableRS`` still names the stable one. A blue-green Rollout's preview
    Service selects it (``status.blueGreen.previewSelector``) while its active Service
    still selects the stable one: before promotion.

    Returns ``{"pod_hash": ..., "replicaset": ..., "pods": [...]}`` as stored.
    """
    (rollout,) = [r for r in store.objects("Rollout", namespace) if r["metadata"]["name"] == name]
    revision = int(rollout["metadata"]["annotations"]["rollout.argoproj.io/revision"]) + 1
    template = _template(name, image)
    pod_hash = hashlib.sha256(f"rollout{name}{image}{revision}".encode()).hexdigest()[:10]

    def roll(obj: Obj) -> None:
        obj["metadata"]["annotations"]["rollout.argoproj.io/revision"] = str(revision)
        obj["spec"]["template"] = _template(name, image)
        obj["status"]["currentPodHash"] = pod_hash
        if "blueGreen" in obj["status"]:
            obj["status"]["blueGreen"]["previewSelector"] = pod_hash
        obj["status"].pop("abort", None)
        obj["status"]["phase"] = "Paused"

    store.modify("Rollout", namespace, name, roll)
    rs, pods = _rollout_replicaset(
        store, rollout, template, pod_hash, revision=revision, replicas=replicas, nodes=nodes
    )
    return {"pod_hash": pod_hash, "replicaset": rs, "pods": pods}


def _rollout_replicaset(
    store: Store,
    rollout: Obj,
    template: Obj,
    pod_hash: str,
    *,
    revision: int,
    replicas: int,
    nodes: Sequence[str],
) -> tuple[Obj, list[Obj]]:
    """A ReplicaSet of ``rollout`` for ``pod_hash`` (owned by it, as Argo's controller
    makes them) with ``replicas`` Ready pods named ``<rollout>-<hash>-<n>``."""
    name, namespace = rollout["metadata"]["name"], rollout["metadata"]["namespace"]
    template["metadata"]["labels"]["rollouts-pod-template-hash"] = pod_hash
    rs = store.put(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{pod_hash}",
                "namespace": namespace,
                "labels": {"app": name, "rollouts-pod-template-hash": pod_hash},
                "annotations": {"rollout.argoproj.io/revision": str(revision)},
                "ownerReferences": [_owner(rollout)],
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name, "rollouts-pod-template-hash": pod_hash}},
                "template": template,
            },
            "status": {"replicas": replicas, "readyReplicas": replicas},
        }
    )
    pods = [
        seed_pod(
            store,
            f"{rs['metadata']['name']}-{index:05d}",
            namespace=namespace,
            owner=rs,
            template=template,
            node=nodes[index % len(nodes)],
            status=_pod_status(True),
        )
        for index in range(replicas)
    ]
    return rs, pods


def seed_statefulset(
    store: Store,
    name: str,
    *,
    namespace: str = "default",
    replicas: int = 2,
    nodes: Sequence[str] = ("node-1",),
) -> Obj:
    sts = store.put(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {
                "replicas": replicas,
                "serviceName": name,
                "selector": {"matchLabels": {"app": name}},
                "template": _template(name, f"{name}:v1"),
            },
            "status": {
                "replicas": replicas,
                "readyReplicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
            },
        }
    )
    pods = [
        store.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{name}-{index}",
                    "namespace": namespace,
                    "labels": {"app": name},
                    "ownerReferences": [_owner(sts)],
                },
                "spec": {
                    "nodeName": nodes[index % len(nodes)],
                    "containers": [{"name": name, "image": f"{name}:v1"}],
                },
                "status": _pod_status(True),
            }
        )
        for index in range(replicas)
    ]
    return {"statefulset": sts, "pods": pods}


def seed_daemonset_pod(
    store: Store, name: str, *, node: str, namespace: str = "kube-system"
) -> Obj:
    ds = store.put(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": _template(name, f"{name}:v1"),
            },
        }
    )
    return store.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-{node}",
                "namespace": namespace,
                "labels": {"app": name},
                "ownerReferences": [_owner(ds)],
            },
            "spec": {"nodeName": node, "containers": [{"name": name, "image": f"{name}:v1"}]},
            "status": _pod_status(True),
        }
    )


def seed_hpa(
    store: Store,
    name: str,
    *,
    target: str,
    namespace: str = "default",
    min_replicas: int = 2,
    max_replicas: int = 10,
    kind: str = "Deployment",
) -> Obj:
    return store.put(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "argoproj.io/v1alpha1" if kind == "Rollout" else "apps/v1",
                    "kind": kind,
                    "name": target,
                },
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
            },
            "status": {"currentReplicas": min_replicas, "desiredReplicas": min_replicas},
        }
    )


def seed_pdb(
    store: Store,
    name: str,
    *,
    app: str,
    namespace: str = "default",
    min_available: int | str | None = None,
    max_unavailable: int | str | None = None,
) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": app}}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return store.put(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def seed_storage_class(store: Store, name: str, *, allow_expansion: bool | None = True) -> Obj:
    """A StorageClass; ``allow_expansion`` None leaves ``allowVolumeExpansion`` unset."""
    body: Obj = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": "ebs.csi.aws.com",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    if allow_expansion is not None:
        body["allowVolumeExpansion"] = allow_expansion
    return store.put(body)


def seed_claim(
    store: Store,
    name: str,
    *,
    namespace: str = "default",
    size: str = "10Gi",
    storage_class: str | None = "standard",
    capacity: str | None = None,
    labels: dict[str, str] | None = None,
    phase: str = "Bound",
    conditions: Sequence[Obj] = (),
) -> Obj:
    """A PersistentVolumeClaim asking for ``size``, bound, with ``capacity`` (default:
    ``size``) as its volume reports it."""
    spec: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
        "volumeMode": "Filesystem",
        "volumeName": f"pvc-{hashlib.sha256(f'{namespace}/{name}'.encode()).hexdigest()[:12]}",
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    status: Obj = {"phase": phase}
    if phase == "Bound":
        status["accessModes"] = ["ReadWriteOnce"]
        status["capacity"] = {"storage": capacity or size}
    if conditions:
        status["conditions"] = list(conditions)
    return store.put(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
            "spec": spec,
            "status": status,
        }
    )


def finish_resize(store: Store, name: str, *, namespace: str = "default") -> Obj:
    """What the external resizer and the kubelet leave once a claim's volume and its
    filesystem have grown: ``status.capacity`` is the size asked for, and the resize
    conditions are gone."""

    def grown(claim: Obj) -> None:
        status = claim.setdefault("status", {})
        status["capacity"] = {"storage": claim["spec"]["resources"]["requests"]["storage"]}
        status.pop("conditions", None)
        status.pop("allocatedResourceStatuses", None)

    return store.modify("PersistentVolumeClaim", namespace, name, grown)
