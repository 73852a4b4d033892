"""A remediation decision carries its target's recent Kubernetes Events: the real
adapter reads them by LISTs with field selectors (the Deployment's, its current
ReplicaSet's and at most 10 of its pods'), never by a watch or a LIST of every Event
in the namespace; the Slack question posted to the stand-in shows them, the
ledger keeps them for ``autonomic explain``. Events that cannot be read (a 403) are
noted and counted, and the question is asked all the same."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.slack import RetryPolicy, build_approvals
from agent.approvals import Approvals
from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from agent.errors import PermanentError, TransientError
from agent.ledger import DecisionRecord, Ledger
from remediation.ports import ObjectRef
from tests.fakekube.seed import seed_node, seed_rollout, seed_rollout_canary
from tests.fakeslack import FakeSlack, start_fake_slack
from tests.integration.remediation.rig import KubeRig, build_rig, pod_status, seed_web
from tests.integration.slack.conftest import APP_TOKEN, CHANNEL, ENVIRON, TOKEN, slack_settings

RUNBOOK = "crashloop-after-rollout-rollback"
WEB = ObjectRef("Deployment", "web", "shop")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = start_fake_slack(token=TOKEN, app_token=APP_TOKEN, groups={"S0ONCALL": ["U0BOB"]})
    yield fake
    fake.stop()


@pytest.fixture
def rig(tmp_path: Path, slack: FakeSlack) -> Iterator[KubeRig]:
    """The remediation rig whose questions go to the Slack stand-in; ``auto`` out of
    reach, so the crash loop's rollback is asked about."""

    def approvals(ledger: Ledger, clock: FakeClock) -> Approvals:
        built, receiver = build_approvals(
            slack_settings(slack.url + "/api/"),
            ENVIRON,
            ledger,
            clock=clock.now,
            policy=RetryPolicy(attempts=2, max_retry_after=1.0, backoff=0.01, post_interval=0.0),
            sleep=lambda _s: None,
        )
        assert receiver is not None
        receiver.close()  # no clicks in these tests
        return built

    built = build_rig(tmp_path, auto=0.99, ask=0.1, approvals_of=approvals)
    yield built
    built.decisions.approvals.close()
    built.close()


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def put_event(
    rig: KubeRig,
    name: str,
    kind: str,
    about: str,
    reason: str,
    seconds_ago: float,
    *,
    type_: str = "Warning",
    count: int = 1,
    message: str | None = None,
) -> None:
    at = rfc3339(rig.clock.now() - seconds_ago)
    rig.server.store.put(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": "shop"},
            "involvedObject": {"kind": kind, "name": about, "namespace": "shop"},
            "reason": reason,
            "message": message or f"{reason} of {about}",
            "type": type_,
            "count": count,
            "firstTimestamp": at,
            "lastTimestamp": at,
        }
    )


def crash_looping_web(rig: KubeRig) -> tuple[list[str], str, str]:
    """shop/web crash-looping since its rollout; returns its pods, its current
    ReplicaSet and its previous one."""
    seed_web(rig, behaviour="CrashLoopBackOff")
    pods = sorted(
        p["metadata"]["name"]
        for p in rig.server.store.objects("Pod", "shop")
        if p["metadata"]["labels"].get("app") == "web"
    )
    by_revision = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs["metadata"]["name"]
        for rs in rig.server.store.objects("ReplicaSet", "shop")
    }
    return pods, by_revision["2"], by_revision["1"]


def asked_decision(rig: KubeRig) -> DecisionRecord:
    decided = [h for h in rig.cycle() if h.outcome == "decided"]
    assert [(h.runbook, h.route) for h in decided] == [(RUNBOOK, "ask")]
    decision = rig.ledger.get_decision(decided[0].decision_id or "")
    assert decision is not None and decision.status == "asked"
    return decision


def question_message(slack: FakeSlack, decision: DecisionRecord) -> tuple[str, list[Any]]:
    """The question's text as a person reads it (every block's text), and its blocks."""
    (message,) = [m for m in slack.top_level() if m.channel == CHANNEL]
    assert decision.id in str(message.blocks)
    texts = [
        str(block["text"]["text"])
        for block in message.blocks
        if isinstance(block.get("text"), dict)
    ]
    return "\n".join(texts), message.blocks


def event_requests(rig: KubeRig, verb: str) -> int:
    return sum(1 for r in rig.requests() if r.resource == "events" and r.verb == verb)


def test_the_question_and_the_ledger_show_the_workloads_recent_events(
    rig: KubeRig, slack: FakeSlack
) -> None:
    pods, current, previous = crash_looping_web(rig)
    put_event(rig, "a", "Pod", pods[0], "BackOff", 40, count=7, message="Back-off restarting")
    put_event(rig, "b", "Pod", pods[1], "BackOff", 20, count=5, message="Back-off again")
    put_event(rig, "c", "Pod", pods[2], "Unhealthy", 90, message="Liveness probe failed: 500")
    put_event(rig, "d", "ReplicaSet", current, "FailedCreate", 60, message="exceeded quota")
    put_event(rig, "e", "Deployment", "web", "ScalingReplicaSet", 600, type_="Normal")
    # Not about web's current objects: the other Deployment, the old ReplicaSet.
    put_event(rig, "f", "Pod", "api-0", "BackOff", 5)
    put_event(rig, "g", "ReplicaSet", previous, "FailedCreate", 5)
    rig.cluster.start()

    decision = asked_decision(rig)
    # One LIST per object: the Deployment, its current ReplicaSet, its three pods.
    assert event_requests(rig, "list") == 5

    events = decision.evidence["events"]
    shown = [(e["type"], e["reason"], e["count"]) for e in events["shown"]]
    assert shown == [
        ("Warning", "BackOff", 12),  # two pods' BackOffs folded, newest first
        ("Warning", "FailedCreate", 1),  # the current ReplicaSet's
        ("Warning", "Unhealthy", 1),
        ("Normal", "ScalingReplicaSet", 1),  # room left: the Normal one
    ]
    assert events["shown"][0]["message"] == "Back-off again"
    assert events["shown"][0]["objects"] == sorted(f"Pod/{p}" for p in pods[:2])
    assert events["shown"][1]["objects"] == [f"ReplicaSet/{current}"]
    assert events["read"] == 5 and events["more"] == 0
    assert events["about"][:2] == ["Deployment/shop/web", f"ReplicaSet/shop/{current}"]

    text, blocks = question_message(slack, decision)
    assert "*Recent Kubernetes Events*" in text
    assert "Warning BackOff ×12" in text and "Back-off again" in text
    assert "Warning FailedCreate (last " in text and "exceeded quota" in text
    assert "Normal ScalingReplicaSet" in text
    assert "api-0" not in text and previous not in text
    assert len(blocks) <= 50
    assert all(len(str(b.get("text", {}).get("text", ""))) <= 3000 for b in blocks)

    # `autonomic explain` prints them from the ledger, as Slack shows them.
    story = render(rig.ledger, decision.id, now=rig.clock.now())
    assert "  events:\n    Warning BackOff ×12 (last " in story
    assert f"on ReplicaSet/{current}: exceeded quota" in story

    # A cycle that decides nothing new (the incident has its question) reads no Events.
    rig.cycle()
    assert event_requests(rig, "list") == 5


def test_a_403_on_events_is_noted_and_the_question_is_asked(rig: KubeRig, slack: FakeSlack) -> None:
    crash_looping_web(rig)
    rig.server.forbid("list", "events")
    errors = rig.decisions.metrics.errors.labels(kind="Forbidden")
    before = errors._value.get()

    decision = asked_decision(rig)

    said = decision.evidence["events"]["unread"]
    assert "events" in said and "list" in said
    text, _ = question_message(slack, decision)
    assert "not readable:" in text
    assert errors._value.get() == before + 1


def test_without_the_watch_caches_the_replicasets_and_pods_events_are_read_too(
    rig: KubeRig,
) -> None:
    # Not started (no watch cache): the same LISTs, one per object, the Deployment's
    # ReplicaSet found by a direct read as every read before start() is.
    pods, current, _ = crash_looping_web(rig)
    put_event(rig, "a", "Pod", pods[0], "BackOff", 40)
    put_event(rig, "d", "ReplicaSet", current, "FailedCreate", 60)
    put_event(rig, "e", "Deployment", "web", "ProgressDeadlineExceeded", 30)

    decision = asked_decision(rig)

    events = decision.evidence["events"]
    reasons = [e["reason"] for e in events["shown"]]
    assert reasons == ["ProgressDeadlineExceeded", "BackOff", "FailedCreate"]
    assert "left_out" not in events
    assert event_requests(rig, "list") == 5


def test_a_namespace_not_read_is_said_not_read(tmp_path: Path) -> None:
    rig = build_rig(tmp_path, exclude_namespaces=("shop",))
    try:
        with pytest.raises(PermanentError, match=r"cluster\.excludeNamespaces") as raised:
            rig.cluster.recent_events(WEB)
        assert raised.value.reason == "NamespaceNotRead"
        assert rig.server.requests == []  # nothing asked of the API server
    finally:
        rig.close()


def test_a_failing_events_list_is_tried_once_and_not_again_for_a_while(rig: KubeRig) -> None:
    # Each decision reads its target's Events by a LIST. One that fails is not retried
    # (the adapter's reads are: here twice, in production 4 times 30 s, for every
    # decision of the cycle), and the decisions that follow within ``event_list_pause``
    # send none: they are said not readable at once.
    crash_looping_web(rig)
    rig.server.inject(r"/events", status=503, times=100, verb="list")

    for _ in range(3):
        with pytest.raises(TransientError) as raised:
            rig.cluster.recent_events(WEB)
        assert raised.value.reason == "ApiUnavailable"
    assert event_requests(rig, "list") == 1
    assert "not listed again within 30 s" in str(raised.value)

    rig.cluster.event_list_pause = 0.0  # the pause over: asked again, and read
    rig.server.clear_faults()
    assert rig.cluster.recent_events(WEB).about[0] == WEB
    assert event_requests(rig, "list") == 3  # the Deployment's, its ReplicaSet's


def test_a_hanging_events_list_gives_up_within_its_own_timeout(rig: KubeRig) -> None:
    # An Event store that hangs (Events in an etcd of their own, overloaded) while the
    # other kinds answer: the decision waits ``event_list_timeout``, not the adapter's
    # read timeout (5 s in the rig, 30 s in production).
    crash_looping_web(rig)
    rig.cluster.event_list_timeout = 0.3
    rig.server.inject(r"/events", delay=3.0, times=1, verb="list")

    began = time.monotonic()
    with pytest.raises(TransientError):
        rig.cluster.recent_events(WEB)
    assert time.monotonic() - began < 2.0


def test_events_of_an_earlier_object_of_the_same_name_are_left_out(
    rig: KubeRig, slack: FakeSlack
) -> None:
    # shop/web deleted and created again (and its ReplicaSet, whose name is its
    # template's hash, with it): the Events of the ones before, kept for an hour, are
    # not this object's; `kubectl describe` leaves them out by their uid too. An Event
    # with no uid is kept.
    pods, current, _ = crash_looping_web(rig)

    def stored(kind: str, name: str) -> dict[str, Any]:
        (obj,) = [
            o for o in rig.server.store.objects(kind, "shop") if name == o["metadata"]["name"]
        ]
        return obj

    def uid_of(kind: str, name: str) -> str:
        return str(stored(kind, name)["metadata"]["uid"])

    def put(name: str, kind: str, about: str, reason: str, uid: str | None) -> None:
        put_event(rig, name, kind, about, reason, 30)
        if uid is not None:
            event = stored("Event", name)
            event["involvedObject"]["uid"] = uid
            rig.server.store.put(event)

    put("a", "Deployment", "web", "OldDeploymentWarning", "uid-of-the-web-deleted")
    put("b", "ReplicaSet", current, "OldReplicaSetQuota", "uid-of-the-rs-deleted")
    put("c", "Pod", pods[0], "OldPodBackOff", "uid-of-the-pod-deleted")
    put("d", "Deployment", "web", "ProgressDeadlineExceeded", uid_of("Deployment", "web"))
    put("e", "ReplicaSet", current, "FailedCreate", uid_of("ReplicaSet", current))
    put("f", "Pod", pods[0], "BackOff", uid_of("Pod", pods[0]))
    put("g", "Pod", pods[1], "Unhealthy", None)
    rig.cluster.start()

    decision = asked_decision(rig)

    events = decision.evidence["events"]
    reasons = sorted(e["reason"] for e in events["shown"])
    assert reasons == ["BackOff", "FailedCreate", "ProgressDeadlineExceeded", "Unhealthy"]
    assert events["read"] == 4


def test_old_events_are_not_taken_for_recent(
    rig: KubeRig,
) -> None:
    # An API server that keeps Events longer than an hour (--event-ttl=24h): a
    # decision's LIST returns them all; the decision keeps none older than 65 minutes.
    crash_looping_web(rig)
    put_event(rig, "old", "Deployment", "web", "ProgressDeadlineExceeded", 5 * 3600)
    put_event(rig, "new", "Deployment", "web", "FailedCreate", 60)

    read = rig.cluster.recent_events(WEB)

    assert [e.reason for e in read.events] == ["FailedCreate"]


def test_a_failed_events_list_in_one_namespace_does_not_hold_another_namespaces(
    rig: KubeRig,
) -> None:
    # A Role that grants list on events in one namespace and not in another: the 403 of
    # the one says nothing of the other, whose decisions still read their Events.
    crash_looping_web(rig)
    rig.server.forbid("list", "events", namespace="shop")
    with pytest.raises(PermanentError):
        rig.cluster.recent_events(WEB)
    other = ObjectRef("Deployment", "api", "payments")

    assert rig.cluster.recent_events(other).events == ()
    assert event_requests(rig, "list") == 2


def test_a_decision_never_watches_or_lists_every_event_of_the_namespace(rig: KubeRig) -> None:
    # A watch of Events needs a LIST of every Event of the namespaces read in one
    # unpaginated response (hundreds of MB on a busy cluster): a decision, which comes
    # a few times an hour, sends only LISTs that name one object.
    pods, _, _ = crash_looping_web(rig)
    put_event(rig, "a", "Pod", pods[0], "BackOff", 40)
    rig.cluster.start()

    decision = asked_decision(rig)
    rig.cycle()
    time.sleep(0.2)  # time for a watch cache, had one started, to list and watch

    events = [r for r in rig.requests() if r.resource == "events" and r.verb != "create"]
    unnamed = [(r.verb, r.field_selector) for r in events if not r.field_selector]
    assert unnamed == []  # no watch, no LIST of the whole namespace
    assert [r.verb for r in events] == ["list"] * 5
    for request in events:
        assert "involvedObject.kind=" in str(request.field_selector)
        assert "involvedObject.name=" in str(request.field_selector)
    assert decision.evidence["events"]["read"] == 1


def crash_loop(rig: KubeRig, name: str) -> None:
    status = pod_status("CrashLoopBackOff", rig.clock.now())
    rig.server.store.modify("Pod", "shop", name, lambda pod: pod.update(status=status))


def test_of_fifty_pods_ten_are_read_the_troubled_first_and_the_rest_counted(
    rig: KubeRig,
) -> None:
    # 50 Ready pods, three crash-looping: those three are read, then the newest, ten
    # in all; one LIST per object read, twelve at most; the other 40 counted.
    seed_web(rig, replicas=50)
    pods = sorted(
        p["metadata"]["name"]
        for p in rig.server.store.objects("Pod", "shop")
        if p["metadata"]["labels"].get("app") == "web"
    )
    assert len(pods) == 50
    troubled = pods[10:13]
    for name in troubled:
        crash_loop(rig, name)
        put_event(rig, f"ev-{name}", "Pod", name, "BackOff", 30)
    newest = pods[40:47]  # created later than the others: read after the troubled
    for name in newest:
        rig.server.store.modify(
            "Pod",
            "shop",
            name,
            lambda pod: pod["metadata"].update(creationTimestamp="2099-01-01T00:00:00Z"),
        )
    rig.cluster.start()
    related = tuple(ObjectRef("Pod", name, "shop") for name in pods)
    before = len(rig.requests())

    read = rig.cluster.recent_events(WEB, related)

    # (the watch caches' own watches go on meanwhile; nothing else is asked)
    asked = [r for r in rig.requests()[before:] if r.verb != "watch"]
    assert [(r.resource, r.verb) for r in asked] == [("events", "list")] * 12
    assert len(asked) <= rig.cluster.event_lists_read == 12
    assert read.about[0] == WEB and read.about[1].kind == "ReplicaSet"
    read_pods = [ref.name for ref in read.about[2:]]
    assert len(read_pods) == 10
    assert sorted(read_pods[:3]) == troubled
    assert sorted(read_pods[3:]) == newest
    assert sorted(e.about for e in read.events) == sorted(f"Pod/{name}" for name in troubled)
    assert read.left_out is not None
    assert read.left_out.startswith("the Events of 40 more of its pods (at most 10 are read")


def test_a_decision_about_fifty_crash_looping_pods_sends_twelve_lists(rig: KubeRig) -> None:
    seed_web(rig, replicas=50, behaviour="CrashLoopBackOff")
    rig.cluster.start()

    decision = asked_decision(rig)

    assert event_requests(rig, "list") == 12
    events = decision.evidence["events"]
    assert len(events["about"]) == 10 and events["about_more"] == 2
    assert "40 more of its pods" in events["left_out"]


@pytest.mark.parametrize("caches", ["not started", "stale"])
@pytest.mark.parametrize("slow", ["deployments", "pods"])
def test_a_slow_lookup_of_the_replicaset_or_the_pods_keeps_to_the_events_budget(
    rig: KubeRig, slow: str, caches: str
) -> None:
    # No watch cache to read as it is (before start(), or stale): finding the
    # Deployment's ReplicaSet and ranking its pods (more than ``event_pods``) list
    # Deployments, ReplicaSets and Pods. Those LISTs are the decision's too: one quick
    # try within its Events' budget, not the adapter's read (5 s in the rig, 30 s times
    # 4 in production) nor a relist of a stale cache; the target's own Events are read
    # all the same.
    seed_web(rig, replicas=12, behaviour="CrashLoopBackOff")
    if caches == "stale":
        assert rig.cluster.start(wait=5)
        rig.cluster.stale_after = 0.0  # no cache has heard from the API server since
    pods = [
        ObjectRef("Pod", p["metadata"]["name"], "shop")
        for p in rig.server.store.objects("Pod", "shop")
        if p["metadata"]["labels"].get("app") == "web"
    ]
    put_event(rig, "e", "Deployment", "web", "ProgressDeadlineExceeded", 30)
    rig.cluster.event_list_timeout = 0.3
    rig.server.inject(rf"/{slow}$", delay=3.0, times=5, verb="list")

    began = time.monotonic()
    read = rig.cluster.recent_events(WEB, tuple(pods))

    assert time.monotonic() - began < 2.0
    assert read.about[0] == WEB
    assert [e.reason for e in read.events] == ["ProgressDeadlineExceeded"]
    assert read.left_out is not None


@pytest.mark.parametrize("started", [False, True])
def test_a_rollouts_current_replicaset_is_read_within_the_same_twelve_lists(
    rig: KubeRig, started: bool
) -> None:
    # An Argo Rollout mid-canary: its ReplicaSets are owned by the Rollout (not by a
    # Deployment, so no revision annotation of a Deployment's), and the current one is
    # the one ``status.currentPodHash`` names (``<rollout>-<hash>``): a FailedCreate of
    # a quota refusing the canary's pods is told there. The stable ReplicaSet's Events
    # are an older release's. Found from the watch caches or by quick LISTs; one
    # ReplicaSet and 10 of its 13 pods: 12 LISTs, as for a Deployment.
    front = ObjectRef("Rollout", "front", "shop")
    stable = seed_rollout(rig.server.store, "front", namespace="shop", replicas=12)
    canary = seed_rollout_canary(rig.server.store, "front", namespace="shop", image="front:v2")
    canary_rs = canary["replicaset"]["metadata"]["name"]
    stable_rs = stable["replicaset"]["metadata"]["name"]
    assert canary_rs == f"front-{canary['pod_hash']}" and canary_rs != stable_rs
    put_event(rig, "a", "ReplicaSet", canary_rs, "FailedCreate", 30, message="exceeded quota")
    put_event(rig, "b", "ReplicaSet", stable_rs, "OldReleaseWarning", 30)
    put_event(rig, "c", "Rollout", "front", "RolloutPaused", 60, type_="Normal")
    pods = tuple(
        ObjectRef("Pod", p["metadata"]["name"], "shop") for p in stable["pods"] + canary["pods"]
    )
    assert len(pods) == 13
    if started:
        assert rig.cluster.start(wait=5)
    before = event_requests(rig, "list")

    read = rig.cluster.recent_events(front, pods)

    assert read.about[:2] == (front, ObjectRef("ReplicaSet", canary_rs, "shop"))
    assert sorted(e.reason for e in read.events) == ["FailedCreate", "RolloutPaused"]
    assert event_requests(rig, "list") - before == 12 == rig.cluster.event_lists_read
    assert read.left_out is not None and "3 more of its pods" in read.left_out


@pytest.mark.parametrize("started", [False, True])
def test_a_nodes_events_are_read_in_default_whoever_recorded_them(
    rig: KubeRig, started: bool
) -> None:
    # A Node is cluster-scoped: its Events are recorded in ``default`` with
    # involvedObject namespace "". The node lifecycle controller names the Node's uid;
    # the kubelet (and kube-proxy) put the node's NAME where its uid goes
    # (``UID: types.UID(nodeName)``), so a uid equal to the name is this Node's too.
    # An Event of an earlier Node of the same name (its real, other uid) is left out
    # once the watch cache knows the current Node's uid.
    node = seed_node(rig.server.store, "node-9", ready=False)
    uid = node["metadata"]["uid"]
    at = rfc3339(rig.clock.now() - 30)

    def created(node: dict[str, Any]) -> None:  # on the rig's clock, as the Events are
        node["metadata"]["creationTimestamp"] = rfc3339(rig.clock.now() - 86400)

    rig.server.store.modify("Node", "", "node-9", created)

    def put(name: str, reason: str, about_uid: str, source: str) -> None:
        rig.server.store.put(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": "default"},
                "involvedObject": {"kind": "Node", "name": "node-9", "uid": about_uid},
                "reason": reason,
                "message": f"{reason} on node-9",
                "type": "Warning" if reason != "Starting" else "Normal",
                "source": {"component": source},
                "count": 1,
                "lastTimestamp": at,
            }
        )

    put("a", "NodeNotReady", uid, "node-controller")
    put("b", "NodeHasDiskPressure", "node-9", "kubelet")
    put("c", "Starting", "node-9", "kubelet")
    put("d", "OldNodeRebooted", "uid-of-the-node-deleted", "kubelet")
    if started:
        assert rig.cluster.start(wait=5)

    read = rig.cluster.recent_events(ObjectRef("Node", "node-9", ""))

    assert read.about == (ObjectRef("Node", "node-9", ""),)
    # Before start() no cache holds the Node's uid, so none can be told earlier (as
    # for any kind: ``_current_uids``).
    earlier = [] if started else ["OldNodeRebooted"]
    assert sorted(e.reason for e in read.events) == sorted(
        ["NodeHasDiskPressure", "NodeNotReady", "Starting", *earlier]
    )
    (listed,) = [r for r in rig.requests() if r.resource == "events" and r.verb == "list"]
    assert listed.namespace == "default"
    assert listed.field_selector == "involvedObject.kind=Node,involvedObject.name=node-9"


def test_a_recreated_nodes_kubelet_events_of_the_earlier_node_are_left_out(
    rig: KubeRig,
) -> None:
    # The kubelet names a Node by its name where its uid goes, so the uid cannot tell
    # an earlier Node of the same name: its time can. The Node was created 10 minutes
    # ago; a kubelet Event last seen 30 minutes ago (within the hour Events are kept) is
    # the earlier Node's. One seen 2 minutes before the creation is this Node's kubelet
    # starting before it registered; one seen since, this Node's.
    seed_node(rig.server.store, "node-9", ready=False)
    now = rig.clock.now()

    def created(node: dict[str, Any]) -> None:
        node["metadata"]["creationTimestamp"] = rfc3339(now - 600)

    rig.server.store.modify("Node", "", "node-9", created)
    for name, reason, at in (
        ("a", "Rebooted", now - 1800),
        ("b", "Starting", now - 720),
        ("c", "NodeHasDiskPressure", now - 60),
    ):
        rig.server.store.put(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": "default"},
                "involvedObject": {"kind": "Node", "name": "node-9", "uid": "node-9"},
                "reason": reason,
                "message": f"{reason} on node-9",
                "type": "Warning",
                "source": {"component": "kubelet"},
                "count": 1,
                "lastTimestamp": rfc3339(at),
            }
        )
    assert rig.cluster.start(wait=5)

    read = rig.cluster.recent_events(ObjectRef("Node", "node-9", ""))

    assert sorted(e.reason for e in read.events) == ["NodeHasDiskPressure", "Starting"]
