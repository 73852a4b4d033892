"""The fake API server against the behaviour of a real one, where Autonomic depends on it.

Expectations come from the Kubernetes API reference and conventions (cited in
tests/fakekube/README.md): Status bodies and reasons per code, watch framing, Scale
shape, optimistic concurrency, dry-run, selectors, patches.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import urllib3
from kubernetes import client

from tests.fakekube import FakeApiServer, start_fake_apiserver
from tests.fakekube.seed import seed_deployment, seed_node, seed_pdb

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=5))


def request(fake: FakeApiServer, method: str, path: str, body: Any = None, **headers: str) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json")
    return HTTP.request(method, fake.url + path, body=data, headers=headers)


def status_body(response: Any) -> dict[str, Any]:
    body = json.loads(response.data)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == response.status
    return dict(body)


DEPLOYMENTS = "/apis/apps/v1/namespaces/shop/deployments"


def test_starts_fast_and_serves_version() -> None:
    started = time.perf_counter()
    server = start_fake_apiserver()
    elapsed = time.perf_counter() - started
    try:
        version = client.VersionApi(client.ApiClient(client.Configuration(host=server.url)))
        assert version.get_code().git_version.startswith("v1.")
    finally:
        server.stop()
    assert elapsed < 0.5


def test_not_found_status_names_resource_and_group(fake: FakeApiServer) -> None:
    body = status_body(request(fake, "GET", f"{DEPLOYMENTS}/nope"))
    assert body["reason"] == "NotFound"
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    core = status_body(request(fake, "GET", "/api/v1/namespaces/shop/pods/nope"))
    assert core["details"] == {"name": "nope", "kind": "pods"}  # no group for core


def test_unknown_path_is_a_404_status(fake: FakeApiServer) -> None:
    body = status_body(request(fake, "GET", "/apis/example.com/v1/widgets"))
    assert body["reason"] == "NotFound"


def test_stale_put_conflicts_and_fresh_put_wins(fake: FakeApiServer) -> None:
    seed_deployment(fake.store, "web", namespace="shop")
    current = json.loads(request(fake, "GET", f"{DEPLOYMENTS}/web").data)
    stale = json.loads(json.dumps(current))
    current["spec"]["replicas"] = 4
    ok = request(fake, "PUT", f"{DEPLOYMENTS}/web", current)
    assert ok.status == 200
    updated = json.loads(ok.data)
    assert int(updated["metadata"]["resourceVersion"]) > int(stale["metadata"]["resourceVersion"])
    assert updated["metadata"]["generation"] == 2  # spec changed
    stale["spec"]["replicas"] = 9
    body = status_body(request(fake, "PUT", f"{DEPLOYMENTS}/web", stale))
    assert body["reason"] == "Conflict" and body["code"] == 409
    assert body["message"] == (
        'Operation cannot be fulfilled on deployments.apps "web": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    assert fake.store.objects("Deployment", "shop")[0]["spec"]["replicas"] == 4


def test_create_twice_is_already_exists(fake: FakeApiServer) -> None:
    body = {"metadata": {"name": "web"}, "spec": {"replicas": 1}}
    assert request(fake, "POST", DEPLOYMENTS, body).status == 201
    again = status_body(request(fake, "POST", DEPLOYMENTS, body))
    assert again["reason"] == "AlreadyExists" and again["code"] == 409


def test_invalid_object_is_422_with_field_causes(fake: FakeApiServer) -> None:
    body = status_body(
        request(fake, "POST", DEPLOYMENTS, {"metadata": {"name": "web"}, "spec": {"replicas": -1}})
    )
    assert body["reason"] == "Invalid"
    assert body["message"].startswith('Deployment.apps "web" is invalid: spec.replicas: ')
    assert body["details"]["kind"] == "Deployment"  # 422 names the Kind, not the resource
    assert body["details"]["causes"][0]["field"] == "spec.replicas"
    assert body["details"]["causes"][0]["reason"] == "FieldValueInvalid"


def test_generate_name_and_dry_run_create(fake: FakeApiServer) -> None:
    created = json.loads(
        request(
            fake,
            "POST",
            "/api/v1/namespaces/shop/events",
            {"metadata": {"generateName": "web."}, "reason": "X", "involvedObject": {}},
        ).data
    )
    assert created["metadata"]["name"].startswith("web.") and len(created["metadata"]["name"]) > 4
    dry = request(fake, "POST", f"{DEPLOYMENTS}?dryRun=All", {"metadata": {"name": "ghost"}})
    assert dry.status == 201 and json.loads(dry.data)["metadata"]["name"] == "ghost"
    assert fake.store.objects("Deployment", "shop") == []


def test_scale_subresource_shape_and_dry_run(fake: FakeApiServer) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=3)
    scale = json.loads(request(fake, "GET", f"{DEPLOYMENTS}/web/scale").data)
    assert scale["apiVersion"] == "autoscaling/v1" and scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"] == {"replicas": 3, "selector": "app=web"}  # selector is a string
    patch = {"spec": {"replicas": 5}}
    dry = request(
        fake,
        "PATCH",
        f"{DEPLOYMENTS}/web/scale?dryRun=All",
        patch,
        **{"Content-Type": "application/merge-patch+json"},
    )
    assert json.loads(dry.data)["spec"]["replicas"] == 5
    assert fake.store.objects("Deployment", "shop")[0]["spec"]["replicas"] == 3
    real = request(
        fake, "PATCH", f"{DEPLOYMENTS}/web/scale", patch,
        **{"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip
    assert json.loads(real.data)["spec"]["replicas"] == 5
    assert fake.store.objects("Deployment", "shop")[0]["spec"]["replicas"] == 5
    negative = status_body(
        request(fake, "PUT", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": -2}})
    )
    assert negative["code"] == 422 and negative["details"]["kind"] == "Scale"


def test_status_subresource_separates_spec_and_status(fake: FakeApiServer) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=3)
    merge = {"Content-Type": "application/merge-patch+json"}
    request(fake, "PATCH", f"{DEPLOYMENTS}/web", {"status": {"replicas": 99}}, **merge)
    assert fake.store.objects("Deployment", "shop")[0]["status"]["replicas"] == 3
    request(fake, "PATCH", f"{DEPLOYMENTS}/web/status",
            {"spec": {"replicas": 7}, "status": {"replicas": 99}}, **merge)  # fmt: skip
    stored = fake.store.objects("Deployment", "shop")[0]
    assert stored["status"]["replicas"] == 99 and stored["spec"]["replicas"] == 3


def test_three_patch_types(fake: FakeApiServer) -> None:
    seed_deployment(fake.store, "web", namespace="shop", resources={"limits": {"cpu": "1"}})
    path = f"{DEPLOYMENTS}/web"
    strategic = {
        "spec": {"template": {"spec": {"containers": [
            {"name": "web", "resources": {"limits": {"memory": "1Gi"}}},
            {"name": "sidecar", "image": "proxy:1"},
        ]}}}
    }  # fmt: skip
    request(fake, "PATCH", path, strategic,
            **{"Content-Type": "application/strategic-merge-patch+json"})  # fmt: skip
    containers = fake.store.objects("Deployment", "shop")[0]["spec"]["template"]["spec"][
        "containers"
    ]
    assert [c["name"] for c in containers] == ["web", "sidecar"]  # merged by name
    assert containers[0]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert containers[0]["image"] == "app:v2"
    merge = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}}
    request(fake, "PATCH", path, merge, **{"Content-Type": "application/merge-patch+json"})
    containers = fake.store.objects("Deployment", "shop")[0]["spec"]["template"]["spec"][
        "containers"
    ]
    assert [c["name"] for c in containers] == ["only"]  # merge patch replaces lists
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 6},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
    ]
    request(fake, "PATCH", path, ops, **{"Content-Type": "application/json-patch+json"})
    stored = fake.store.objects("Deployment", "shop")[0]
    assert stored["spec"]["replicas"] == 6 and stored["metadata"]["labels"]["tier"] == "front"
    failed = status_body(
        request(fake, "PATCH", path, ops[:1], **{"Content-Type": "application/json-patch+json"})
    )
    assert failed["code"] == 422


def test_patch_with_stale_resource_version_conflicts(fake: FakeApiServer) -> None:
    seed_deployment(fake.store, "web", namespace="shop")
    body = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 8}}
    answer = status_body(
        request(fake, "PATCH", f"{DEPLOYMENTS}/web", body,
                **{"Content-Type": "application/merge-patch+json"})
    )  # fmt: skip
    assert answer["reason"] == "Conflict"


def test_lists_selectors_and_unsupported_field(fake: FakeApiServer) -> None:
    seed_node(fake.store, "node-1")
    seed_deployment(fake.store, "web", namespace="shop", replicas=2, nodes=("node-1", "node-2"))
    seed_deployment(fake.store, "api", namespace="shop", replicas=1, nodes=("node-2",))
    listed = json.loads(request(fake, "GET", "/api/v1/pods?labelSelector=app%20in%20(web,x)").data)
    assert listed["kind"] == "PodList" and len(listed["items"]) == 2
    assert "kind" not in listed["items"][0]  # list items carry no kind/apiVersion
    assert listed["metadata"]["resourceVersion"].isdigit()
    on_node = json.loads(
        request(fake, "GET", "/api/v1/namespaces/shop/pods?fieldSelector=spec.nodeName%3Dnode-2")
        .data
    )  # fmt: skip
    assert sorted(p["metadata"]["labels"]["app"] for p in on_node["items"]) == ["api", "web"]
    negated = json.loads(request(fake, "GET", "/api/v1/pods?labelSelector=app!%3Dweb").data)
    assert {p["metadata"]["labels"]["app"] for p in negated["items"]} == {"api"}
    bad = status_body(request(fake, "GET", "/api/v1/pods?fieldSelector=spec.hostname%3Dx"))
    assert bad["code"] == 400 and "field label not supported" in bad["message"]


def test_eviction_respects_budget_with_429_status(fake: FakeApiServer) -> None:
    pods = seed_deployment(fake.store, "web", namespace="shop", replicas=2)["pods"]
    seed_pdb(fake.store, "web", app="web", namespace="shop", min_available=1)
    first, second = (p["metadata"]["name"] for p in pods)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": first}}
    ok = request(fake, "POST", f"/api/v1/namespaces/shop/pods/{first}/eviction", eviction)
    assert ok.status == 201 and json.loads(ok.data)["status"] == "Success"
    refused = request(fake, "POST", f"/api/v1/namespaces/shop/pods/{second}/eviction",
                      {**eviction, "metadata": {"name": second}})  # fmt: skip
    body = status_body(refused)
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert [p["metadata"]["name"] for p in fake.store.objects("Pod", "shop")] == [second]


def test_eviction_of_a_pod_two_budgets_select_is_500_without_a_reason(
    fake: FakeApiServer,
) -> None:
    """As the real eviction handler answers it: code 500, its fixed message, no reason,
    however much either budget allows; the pod stays."""
    (pod,) = seed_deployment(fake.store, "web", namespace="shop", replicas=1)["pods"]
    seed_pdb(fake.store, "web", app="web", namespace="shop", max_unavailable=5)
    seed_pdb(fake.store, "web-too", app="web", namespace="shop", max_unavailable=5)
    name = pod["metadata"]["name"]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    refused = request(fake, "POST", f"/api/v1/namespaces/shop/pods/{name}/eviction", eviction)
    assert refused.status == 500
    body = status_body(refused)
    assert body["status"] == "Failure" and body["code"] == 500 and "reason" not in body
    assert body["message"] == (
        "This pod has more than one PodDisruptionBudget, which the eviction subresource "
        "does not support."
    )
    assert [p["metadata"]["name"] for p in fake.store.objects("Pod", "shop")] == [name]


def test_a_pod_on_a_notready_node_stays_terminating_when_evicted_or_deleted(
    fake: FakeApiServer,
) -> None:
    """As on a real cluster: the API server marks the pod (deletionTimestamp) and the
    kubelet removes it once it has stopped; a NotReady node's kubelet never does. A
    DELETE with gracePeriodSeconds 0 (kubectl delete --force) removes it at once."""
    seed_node(fake.store, "down", ready=False)
    pods = seed_deployment(fake.store, "web", namespace="shop", replicas=3, nodes=("down",))
    first, second, third = (p["metadata"]["name"] for p in pods["pods"])
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": first}}
    assert (
        request(fake, "POST", f"/api/v1/namespaces/shop/pods/{first}/eviction", eviction).status
        == 201
    )
    assert request(fake, "DELETE", f"/api/v1/namespaces/shop/pods/{second}").status == 200
    again = request(fake, "DELETE", f"/api/v1/namespaces/shop/pods/{second}")
    assert again.status == 200
    left = {p["metadata"]["name"]: p["metadata"] for p in fake.store.objects("Pod", "shop")}
    assert sorted(left) == sorted([first, second, third])
    assert left[first]["deletionTimestamp"] and left[second]["deletionTimestamp"]
    assert left[first]["deletionGracePeriodSeconds"] == 30
    assert "deletionTimestamp" not in left[third]
    force = request(
        fake, "DELETE", f"/api/v1/namespaces/shop/pods/{second}", {"gracePeriodSeconds": 0}
    )
    assert force.status == 200
    assert second not in {p["metadata"]["name"] for p in fake.store.objects("Pod", "shop")}


def test_microtime_fields_need_six_fractional_digits(fake: FakeApiServer) -> None:
    path = "/apis/coordination.k8s.io/v1/namespaces/autonomic/leases"
    lease = {"metadata": {"name": "l"}, "spec": {"renewTime": "2026-11-22T10:00:00+00:00"}}
    assert status_body(request(fake, "POST", path, lease))["code"] == 400
    lease["spec"]["renewTime"] = "2026-11-22T10:00:00.000001Z"
    assert request(fake, "POST", path, lease).status == 201


def read_watch(response: Any) -> list[dict[str, Any]]:
    events = []
    for line in response.data.decode().splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events


def test_watch_stream_framing_and_selector_transitions(fake: FakeApiServer) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=1)
    start = json.loads(request(fake, "GET", DEPLOYMENTS).data)["metadata"]["resourceVersion"]
    fake.store.modify("Deployment", "shop", "web", lambda d: d["metadata"]["labels"].update(x="1"))
    fake.store.modify("Deployment", "shop", "web", lambda d: d["metadata"]["labels"].pop("x"))
    response = HTTP.request(
        "GET",
        f"{fake.url}{DEPLOYMENTS}?watch=true&resourceVersion={start}&timeoutSeconds=1"
        "&labelSelector=x%3D1&allowWatchBookmarks=true",
        preload_content=True,
    )
    assert response.status == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    events = read_watch(response)
    changes = [e["type"] for e in events if e["type"] != "BOOKMARK"]
    assert changes == ["ADDED", "DELETED"]  # entering, then leaving the selection
    assert events[-1]["type"] == "BOOKMARK"  # a bookmark before the stream ends
    assert events[0]["object"]["kind"] == "Deployment"  # watch objects do carry kind
    assert events[-1]["object"]["metadata"]["resourceVersion"].isdigit()


def test_watch_from_compacted_version_is_410_error_event(fake: FakeApiServer) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=1)
    fake.store.compact()
    response = HTTP.request("GET", f"{fake.url}{DEPLOYMENTS}?watch=true&resourceVersion=5")
    assert response.status == 200  # the failure is in the stream, not the status line
    (event,) = read_watch(response)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith("too old resource version: 5 (")


def test_watch_from_a_resource_version_that_is_not_a_number_is_400(fake: FakeApiServer) -> None:
    response = HTTP.request("GET", f"{fake.url}{DEPLOYMENTS}?watch=true&resourceVersion=abc")
    body = status_body(response)
    assert response.status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == "invalid resource version: 'abc'"
    # The server is still serving (the handler did not die mid-stream).
    assert request(fake, "GET", DEPLOYMENTS).status == 200


def test_fault_injection_and_forbid(fake: FakeApiServer) -> None:
    fake.inject(r"/pods$", method="GET", status=503, times=1)
    assert request(fake, "GET", "/api/v1/pods").status == 503
    assert request(fake, "GET", "/api/v1/pods").status == 200
    fake.inject(r"/pods$", status=429)
    throttled = request(fake, "GET", "/api/v1/pods")
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "1"
    fake.forbid("create", "pods/eviction")
    body = status_body(
        request(fake, "POST", "/api/v1/namespaces/shop/pods/p/eviction", {"metadata": {}})
    )
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'pods "p" is forbidden: User "system:serviceaccount:autonomic:autonomic" cannot create '
        'resource "pods/eviction" in API group "" in the namespace "shop"'
    )
    fake.inject(r"/pods$", drop=True)
    with pytest.raises(urllib3.exceptions.HTTPError):
        request(fake, "GET", "/api/v1/pods")
    verbs = {(r.verb, r.resource) for r in fake.requests}
    assert ("list", "pods") in verbs and ("create", "pods/eviction") in verbs


def test_watch_from_a_version_replays_later_changes_and_bookmarks_the_latest(
    fake: FakeApiServer,
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=1)
    start = json.loads(request(fake, "GET", DEPLOYMENTS).data)["metadata"]["resourceVersion"]
    fake.store.modify("Deployment", "shop", "web", lambda d: d["spec"].update(replicas=2))
    seed_node(fake.store, "node-1")  # not a Deployment: not sent, but bookmarked past
    fake.store.modify("Deployment", "shop", "web", lambda d: d["spec"].update(replicas=3))
    latest = fake.store.resource_version
    began = time.monotonic()
    response = HTTP.request(
        "GET",
        f"{fake.url}{DEPLOYMENTS}?watch=true&resourceVersion={start}&timeoutSeconds=1"
        "&allowWatchBookmarks=true",
    )
    lasted = time.monotonic() - began
    events = read_watch(response)
    changes = [e for e in events if e["type"] != "BOOKMARK"]
    assert [(e["type"], e["object"]["spec"]["replicas"]) for e in changes] == [
        ("MODIFIED", 2),
        ("MODIFIED", 3),
    ]  # only what came after ``start``, in order
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in changes]
    assert versions == sorted(versions) and versions[0] > int(start)
    assert events[-1]["type"] == "BOOKMARK"
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) == latest
    assert 1.0 <= lasted < 3.0  # timeoutSeconds ends the stream cleanly

    # Without allowWatchBookmarks there are none, and the stream still ends on time.
    response = HTTP.request(
        "GET", f"{fake.url}{DEPLOYMENTS}?watch=true&resourceVersion={latest}&timeoutSeconds=1"
    )
    assert response.status == 200 and read_watch(response) == []


def test_watch_older_than_the_bounded_history_is_410() -> None:
    server = start_fake_apiserver(history_limit=3)
    try:
        first = server.store.resource_version
        for index in range(5):
            seed_node(server.store, f"node-{index}")
        nodes = f"{server.url}/api/v1/nodes?watch=true&timeoutSeconds=1&resourceVersion="
        (expired,) = read_watch(HTTP.request("GET", nodes + str(first)))
        assert expired["type"] == "ERROR" and expired["object"]["code"] == 410
        floor = server.store.resource_version - 3  # the last three changes are kept
        kept = read_watch(HTTP.request("GET", nodes + str(floor)))
        assert [e["object"]["metadata"]["name"] for e in kept] == ["node-2", "node-3", "node-4"]
        (just_too_old,) = read_watch(HTTP.request("GET", nodes + str(floor - 1)))
        assert just_too_old["object"]["code"] == 410
    finally:
        server.stop()


def test_outage_refuses_connections_and_cuts_watches_then_serves_the_same_store(
    fake: FakeApiServer,
) -> None:
    seed_deployment(fake.store, "web", namespace="shop", replicas=1)
    start = fake.store.resource_version
    stream = HTTP.request(
        "GET",
        f"{fake.url}{DEPLOYMENTS}?watch=true&resourceVersion={start}&timeoutSeconds=30",
        preload_content=False,
    )
    deadline = time.monotonic() + 5
    while fake.open_watches < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    url = fake.url
    fake.go_down()
    assert fake.down
    with pytest.raises(urllib3.exceptions.HTTPError):
        stream.read()  # cut without the final chunk
    with pytest.raises(urllib3.exceptions.HTTPError):
        request(fake, "GET", DEPLOYMENTS)  # connection refused
    fake.store.modify("Deployment", "shop", "web", lambda d: d["spec"].update(replicas=4))
    fake.come_back()
    assert fake.url == url and not fake.down
    assert json.loads(request(fake, "GET", DEPLOYMENTS).data)["items"][0]["spec"]["replicas"] == 4
    resumed = read_watch(
        HTTP.request(
            "GET", f"{fake.url}{DEPLOYMENTS}?watch=true&resourceVersion={start}&timeoutSeconds=1"
        )
    )
    assert [(e["type"], e["object"]["spec"]["replicas"]) for e in resumed] == [("MODIFIED", 4)]


def test_pdb_status_is_kept_by_the_disruption_controller(fake: FakeApiServer) -> None:
    """As on a real cluster, a PDB's status is written when it is created and whenever
    its pods or their controller's scale change: expected pods are the controller's
    replicas, healthy ones those ready and not terminating."""
    pods = seed_deployment(fake.store, "web", namespace="shop", replicas=3)["pods"]
    seed_pdb(fake.store, "web", app="web", namespace="shop", max_unavailable=1)
    listed = json.loads(
        request(fake, "GET", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets").data
    )
    (budget,) = listed["items"]
    status = budget["status"]
    assert (status["expectedPods"], status["currentHealthy"], status["desiredHealthy"]) == (3, 3, 2)
    assert status["disruptionsAllowed"] == 1 and status["observedGeneration"] == 1
    assert status["conditions"][0]["type"] == "DisruptionAllowed"
    first = pods[0]["metadata"]["name"]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": first}}
    assert (
        request(fake, "POST", f"/api/v1/namespaces/shop/pods/{first}/eviction", eviction).status
        == 201
    )
    got = json.loads(
        request(fake, "GET", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web").data
    )
    # The Deployment still wants 3: one short, none may go until its replacement is ready.
    assert (got["status"]["expectedPods"], got["status"]["disruptionsAllowed"]) == (3, 0)
    assert got["status"]["conditions"][0]["reason"] == "InsufficientPods"


def _pdb_status(fake: FakeApiServer, name: str) -> dict[str, Any]:
    path = f"/apis/policy/v1/namespaces/shop/poddisruptionbudgets/{name}"
    return dict(json.loads(request(fake, "GET", path).data)["status"])


def test_pdb_status_counts_pods_as_the_disruption_controller_does(fake: FakeApiServer) -> None:
    """The real controller's rules (``getExpectedPodCount``): an integer minAvailable
    expects the pods the selector matches, terminating ones too; maxUnavailable expects
    the controllers' scale, a pod with no controller left out."""
    pods = seed_deployment(fake.store, "web", namespace="shop", replicas=3)["pods"]
    seed_pdb(fake.store, "by-count", app="web", namespace="shop", min_available=2)
    seed_pdb(fake.store, "by-scale", app="web", namespace="shop", max_unavailable=1)
    fake.store.modify(
        "Pod",
        "shop",
        pods[0]["metadata"]["name"],
        lambda p: p["metadata"].update(deletionTimestamp="2030-01-01T00:00:00Z"),
    )
    stray: dict[str, Any] = json.loads(json.dumps(pods[1]))  # a ready pod, no controller
    stray["metadata"] = {
        "name": "web-by-hand",
        "namespace": "shop",
        "labels": stray["metadata"]["labels"],
    }
    fake.store.put(stray)
    counted = _pdb_status(fake, "by-count")
    # 4 pods matched (one terminating), 3 healthy, 2 desired
    assert (counted["expectedPods"], counted["currentHealthy"]) == (4, 3)
    assert counted["disruptionsAllowed"] == 1
    scaled = _pdb_status(fake, "by-scale")
    # the Deployment's 3, the stray pod not expected: 2 desired of 3 healthy
    assert (scaled["expectedPods"], scaled["desiredHealthy"]) == (3, 2)
    assert scaled["disruptionsAllowed"] == 1
