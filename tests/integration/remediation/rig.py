"""The remediation engine wired to the real Kubernetes adapter and the fake API server.

``KubeRig`` is what the daemon composes in production, with two stand-ins: the fake
API server (real HTTP, real client) instead of a cluster, and a fake clock. The fake
server runs no controllers, so ``Controller`` plays the Deployment controller and the
kubelet between engine cycles: it makes a Deployment's pods match its current template
(a rollback or a resource patch replaces them), and asks the test how a pod of a given
image and memory limit behaves (Ready, CrashLoopBackOff, OOMKilled, ImagePullBackOff).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.adapters.kube_errors import RetryPolicy
from agent.adapters.kubernetes import KubernetesCluster, load_api_client
from agent.alert_inbox import AlertInbox
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.errors import TransientError
from agent.executor import Executor
from agent.ledger import DecisionRecord, Ledger, Question, open_ledger
from agent.observability import Metrics
from agent.remediation_engine import Handled, RemediationEngine
from agent.server import Request
from agent.settings import RoutingSettings
from agent.webhooks import AlertIntake
from remediation.guards import GlobalLimits
from remediation.loading import load_paths
from remediation.ports import ObjectRef
from remediation.schema import Runbook
from remediation.signals import anomaly_signal
from tests.fakekube import FakeApiServer, RequestRecord, Store, seed, start_fake_apiserver
from tests.fakekube.seed import seed_deployment
from tests.fakekube.store import RESOURCES
from tests.harness.servers import fresh_schema

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"
FAST = RetryPolicy(
    attempts=2, base_delay=0.01, max_delay=0.02, conflict_attempts=3, request_timeout=(2.0, 5.0)
)
WRITE_VERBS = ("create", "update", "patch", "delete")
ENABLED = {"autonomic.dev/enabled": "true"}
TOKEN = "alert-token"
# Wednesday 2026-11-18 10:00 UTC: outside the drain runbook's Friday-evening freeze.
START = 1_794_996_000.0

Obj = dict[str, Any]
# How a pod behaves, from its container: "Ready", "CrashLoopBackOff", "OOMKilled",
# "ImagePullBackOff" or "NotReady".
Behaviour = Callable[[Obj], str]


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Write:
    """One write the fake API server received, as the tests compare them."""

    method: str
    resource: str
    namespace: str
    name: str
    dry_run: bool


class RecordingChannel(LedgerOnlyChannel):
    """The ledger-only channel, counting every message a human would receive."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float]) -> None:
        super().__init__(ledger, clock)
        self.asked: list[str] = []
        self.escalated: list[tuple[str, str]] = []
        self.updates: list[tuple[str, str]] = []  # (question id, note): message rewrites
        self.threads: list[tuple[str, str]] = []  # (question id, text): thread replies
        # actions taken without asking, reported (not counted in ``messages``: nobody is
        # asked to do anything), and the progress posted under them
        self.reported: list[str] = []
        self.notes: list[tuple[str, str]] = []  # (report reference, text)

    def ask(self, decision: DecisionRecord, question: Question) -> str:
        self.asked.append(decision.id)
        return super().ask(decision, question)

    def update(self, decision: DecisionRecord, question: Question, note: str) -> None:
        self.updates.append((question.id, note))
        super().update(decision, question, note)

    def thread(self, question: Question, text: str) -> None:
        self.threads.append((question.id, text))
        super().thread(question, text)

    def escalate(self, decision: DecisionRecord, why: str) -> str:
        self.escalated.append((decision.id, why))
        return super().escalate(decision, why)

    def report(self, decision: DecisionRecord, why: str) -> str:
        self.reported.append(decision.id)
        return super().report(decision, why)

    def note(self, ref: str, text: str) -> None:
        self.notes.append((ref, text))
        super().note(ref, text)

    @property
    def messages(self) -> int:
        return len(self.asked) + len(self.escalated)


class PromQL:
    """An in-test stand-in for Prometheus: the first rule whose text occurs in the query
    gives its value (None = no data: no series). Prometheus down is the real adapter
    against a closed port (test_prometheus_unavailable.py)."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, float | None]] = []
        self.asked: list[str] = []

    def set(self, fragment: str, value: float | None) -> None:
        self.rules = [(f, v) for f, v in self.rules if f != fragment] + [(fragment, value)]

    def __call__(self, query: str) -> float | None:
        self.asked.append(query)
        for fragment, value in self.rules:
            if fragment in query:
                return value
        return None


# ------------------------------------------------------------------------- controller


def _template_key(template: Obj) -> str:
    """What identifies a pod template, ignoring the ReplicaSet's hash label."""
    body = copy.deepcopy(template)
    (body.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return json.dumps(body, sort_keys=True)


def _revision(obj: Obj) -> int:
    return int(obj["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))


def pod_status(behaviour: str, started: float) -> Obj:
    """The kubelet's view of a pod that is Ready, crash-looping, pulling, or OOMKilled."""
    return seed.pod_status(
        ready=behaviour == "Ready",
        restarts={"CrashLoopBackOff": 5, "OOMKilled": 4}.get(behaviour, 0),
        waiting=behaviour if behaviour in ("CrashLoopBackOff", "ImagePullBackOff") else None,
        last_termination="OOMKilled" if behaviour == "OOMKilled" else None,
        exit_code=137,
        started=rfc3339(started),
        phase="Pending" if behaviour == "ImagePullBackOff" else "Running",
    )


@dataclass
class Controller:
    """Plays the Deployment controller and the kubelet for the fake API server."""

    server: FakeApiServer
    clock: FakeClock
    behaviour: Behaviour
    nodes: Sequence[str] = ("node-1", "node-2")
    heal: bool = True  # False: leave existing pods' status alone (a stuck pod stays stuck)

    @property
    def store(self) -> Any:
        return self.server.store

    def reconcile(self, namespace: str, name: str) -> None:
        """Make the Deployment's pods those of its current template, behaving as told."""
        deployment = get_obj(self.store, "Deployment", namespace, name)
        spec = deployment["spec"]
        if spec.get("paused"):
            return
        replicasets = [
            rs
            for rs in self.store.objects("ReplicaSet", namespace)
            if any(
                o.get("uid") == deployment["metadata"]["uid"]
                for o in rs["metadata"].get("ownerReferences", [])
            )
        ]
        key = _template_key(spec["template"])
        current = next(
            (rs for rs in replicasets if _template_key(rs["spec"]["template"]) == key), None
        )
        top = max((_revision(rs) for rs in replicasets), default=0)
        if current is None:
            revision = top + 1
            current = self._new_replicaset(deployment, revision)
        elif _revision(current) != top:
            # A rollback makes the old ReplicaSet the newest revision again.
            revision = top + 1
            self.store.modify(
                "ReplicaSet",
                namespace,
                current["metadata"]["name"],
                lambda rs: rs["metadata"]["annotations"].update(
                    {"deployment.kubernetes.io/revision": str(revision)}
                ),
            )
        else:
            revision = top
        replicas = int(spec.get("replicas", 1))
        wanted_hash = current["metadata"]["labels"]["pod-template-hash"]
        pods = self.store.objects("Pod", namespace)
        # As the ReplicaSet controller, pods in a terminal phase (a pod the kubelet
        # evicted is Failed, and stays until someone deletes it) are not counted.
        mine = [
            p
            for p in pods
            if p["metadata"].get("labels", {}).get("app") == name
            and p["metadata"].get("ownerReferences")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        keep = [p for p in mine if p["metadata"]["labels"].get("pod-template-hash") == wanted_hash]
        for pod in mine:
            if pod not in keep:
                delete_obj(self.store, "Pod", namespace, pod["metadata"]["name"])
        container = current["spec"]["template"]["spec"]["containers"][0]
        behaviour = self.behaviour(container)
        for pod in keep[replicas:]:
            delete_obj(self.store, "Pod", namespace, pod["metadata"]["name"])
        keep = keep[:replicas]
        for pod in keep if self.heal else ():
            status = pod_status(behaviour, self.clock.now())
            if _same_health(pod.get("status") or {}, status):
                continue
            self.store.modify(
                "Pod", namespace, pod["metadata"]["name"], functools.partial(_set_status, status)
            )
        names = {p["metadata"]["name"] for p in keep}
        index = 0
        while len(names) < replicas:
            # A fresh name, as the ReplicaSet controller's random suffix gives: a drain
            # waits for the evicted pod's name to disappear.
            pod_name = f"{current['metadata']['name']}-{uuid.uuid4().hex[:5]}"
            index += 1
            names.add(pod_name)
            seed.seed_pod(
                self.store,
                pod_name,
                namespace=namespace,
                owner=current,
                template=current["spec"]["template"],
                node=self.nodes[index % len(self.nodes)],
                status=pod_status(behaviour, self.clock.now()),
            )
        ready = sum(
            1
            for p in self.store.objects("Pod", namespace)
            if p["metadata"]["labels"].get("pod-template-hash") == wanted_hash
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in p["status"].get("conditions", [])
            )
        )

        wanted = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": replicas,
            "availableReplicas": ready,
            "conditions": [{"type": "Progressing", "status": "True"}],
        }
        if deployment.get("status") == wanted and _revision(deployment) == revision:
            return  # nothing to do: a controller writes only on change

        def write_status(obj: Obj) -> None:
            obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
            obj["status"] = wanted

        self.store.modify("Deployment", namespace, name, write_status)

    def _new_replicaset(self, deployment: Obj, revision: int) -> Obj:
        template = copy.deepcopy(deployment["spec"]["template"])
        digest = hashlib.sha256(_template_key(template).encode()).hexdigest()[:10]
        template["metadata"].setdefault("labels", {})["pod-template-hash"] = digest
        meta = deployment["metadata"]
        created = dict(
            self.store.put(
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"{meta['name']}-{digest}",
                        "namespace": meta["namespace"],
                        "labels": dict(template["metadata"]["labels"]),
                        "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                        "ownerReferences": [_owner(deployment)],
                    },
                    "spec": {
                        "replicas": deployment["spec"].get("replicas", 1),
                        "selector": {
                            "matchLabels": {"app": meta["name"], "pod-template-hash": digest}
                        },
                        "template": template,
                    },
                }
            )
        )
        stamp = rfc3339(self.clock.now())
        return dict(
            self.store.modify(
                "ReplicaSet",
                meta["namespace"],
                created["metadata"]["name"],
                lambda obj: obj["metadata"].update(creationTimestamp=stamp),
            )
        )


def _kind(kind: str) -> Any:
    return next(r for r in RESOURCES if r.kind == kind)


def _set_status(status: Obj, obj: Obj) -> None:
    obj.update(status=status)


def _set_created(stamp: str, obj: Obj) -> None:
    obj["metadata"].update(creationTimestamp=stamp)


def get_obj(store: Store, kind: str, namespace: str | None, name: str) -> Obj:
    rt = _kind(kind)
    return dict(store.get(rt, (namespace or "") if rt.namespaced else "", name))


def delete_obj(store: Store, kind: str, namespace: str | None, name: str) -> None:
    rt = _kind(kind)
    store.delete(rt, (namespace or "") if rt.namespaced else "", name)


def _same_health(old: Obj, new: Obj) -> bool:
    def key(status: Obj) -> Any:
        containers = status.get("containerStatuses") or [{}]
        return (
            status.get("phase"),
            [c.get("status") for c in status.get("conditions") or []],
            json.dumps(containers[0].get("state", {}).get("waiting")),
            json.dumps(containers[0].get("lastState")),
        )

    return bool(key(old) == key(new))


_owner = seed.owner_reference


# -------------------------------------------------------------------------------- rig


@dataclass
class KubeRig:
    server: FakeApiServer
    clock: FakeClock
    cluster: KubernetesCluster
    ledger: Ledger
    channel: RecordingChannel
    decisions: DecisionService
    executor: Executor
    engine: RemediationEngine
    intake: AlertIntake
    promql: PromQL
    api_client: Any
    handled: list[Handled] = field(default_factory=list)
    controllers: list[Callable[[], None]] = field(default_factory=list)

    def cycle(self) -> list[Handled]:
        out = self.engine.cycle()
        self.handled.extend(out)
        return out

    def run(self, seconds: float, step: float = 30.0) -> None:
        """Move time in steps; between engine cycles the 'controllers' react."""
        elapsed = 0.0
        while elapsed < seconds:
            self.clock.advance(step)
            elapsed += step
            for react in self.controllers:
                react()
            self.cycle()

    def writes(self, *, events: bool = False) -> list[Write]:
        """Every write the fake API server received (Events excluded unless asked)."""
        return [
            Write(r.method, r.resource, r.namespace, r.name, r.dry_run)
            for r in self.server.requests
            if r.verb in WRITE_VERBS and (events or r.resource != "events") and r.status < 400
        ]

    def requests(self) -> list[RequestRecord]:
        return self.server.requests

    def decisions_of(self, runbook: str) -> list[DecisionRecord]:
        return [
            d
            for d in self.ledger.decisions(kind="remediation", limit=10_000)
            if d.decision_type.startswith(f"{runbook}/")
        ]

    def feedback(self, decision_id: str) -> list[tuple[str, str]]:
        return [(f["kind"], f["outcome"]) for f in self.ledger.feedback_for(decision_id)]

    def approve_pending(self, actor: str = "alice") -> int:
        approved = 0
        for question in self.ledger.questions():
            approved += self.decisions.answer(question.id, "approved", actor)
        return approved

    def post_alerts(self, alerts: Iterable[Obj], status: str = "firing") -> int:
        body = json.dumps(
            {
                "version": "4",
                "groupKey": "{}:{}",
                "status": status,
                "receiver": "autonomic",
                "alerts": list(alerts),
            }
        ).encode()
        response = self.intake.handle(
            Request(
                "POST",
                "/alerts",
                {},
                {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
                body,
            )
        )
        return response.status

    def close(self) -> None:
        self.cluster.stop()
        self.api_client.close()
        self.decisions.approvals.dispatcher.stop()
        self.ledger.close()
        self.server.stop()


@functools.cache
def _shipped_runbooks() -> tuple[Runbook, ...]:
    return load_paths([RUNBOOKS])


def _runbooks(paths: Sequence[Path]) -> tuple[Runbook, ...]:
    """The runbooks under ``paths``. The repository's own are parsed once a session
    (their YAML was most of the time a rig took to build) and each rig gets a deep copy
    of them, equal to a fresh load and shared with no other rig; a test's own folders
    are loaded afresh."""
    if list(paths) == [RUNBOOKS]:
        return copy.deepcopy(_shipped_runbooks())
    return load_paths(list(paths))


def build_rig(
    tmp_path: Path,
    *,
    runbooks: Sequence[Path] = (RUNBOOKS,),
    auto: float = 0.7,
    ask: float = 0.5,
    limits: GlobalLimits | None = None,
    server: FakeApiServer | None = None,
    start: float | None = None,
    ledger_path: Path | None = None,
    ledger_url: str | None = None,
    identity: str = "autonomic-test",
    exclude_namespaces: Sequence[str] = (),
    approvals_of: Callable[[Ledger, FakeClock], Approvals] | None = None,
) -> KubeRig:
    """The rig; ``approvals_of`` builds the approvals service over the ledger and clock
    (the Slack adapter over the Slack stand-in, say) in place of the ledger-only one
    whose every message ``KubeRig.channel`` counts."""
    server = server or start_fake_apiserver()
    clock = FakeClock(START if start is None else start)
    server.store.clock = clock.now  # managedFields times on the engine's clock
    api_client = load_api_client(host=server.url)
    cluster = KubernetesCluster(
        api_client,
        identity=identity,
        exclude_namespaces=exclude_namespaces,
        policy=FAST,
        wall_clock=clock.now,
        sleep=lambda _s: time.sleep(0.001),
    )
    url = ledger_url or f"sqlite:///{ledger_path or tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url, clock.now())
    channel = RecordingChannel(ledger, clock.now)
    approvals = (
        Approvals(ledger, channel, ttl=3600, snooze=900)
        if approvals_of is None
        else approvals_of(ledger, clock)
    )
    decisions = DecisionService(
        ledger,
        clock,
        RoutingSettings(auto=auto, ask=ask),
        mode="act",
        approvals=approvals,
        metrics=Metrics(),
    )
    executor = Executor(ledger, cluster, clock, owner=identity)
    promql = PromQL()
    inbox = AlertInbox(ledger, clock.now)
    intake = AlertIntake(token=SecretStr(TOKEN), clock=clock.now, inbox=inbox)
    engine = RemediationEngine(
        runbooks=_runbooks(runbooks),
        ledger=ledger,
        decisions=decisions,
        executor=executor,
        reader=cluster,
        clock=clock,
        limits=limits or GlobalLimits(),
        query=promql,
        alerts=intake.firing,
        inbox=inbox,
        identity=identity,
    )
    return KubeRig(
        server,
        clock,
        cluster,
        ledger,
        channel,
        decisions,
        executor,
        engine,
        intake,
        promql,
        api_client,
    )


class Replicas:
    """Processes on one fake API server and one ledger, each with its own engine and
    memory; ``limits`` is every replica's ``GlobalLimits`` (default: the defaults)."""

    def __init__(
        self,
        tmp_path: Path,
        url: str,
        *,
        identity: str = "autonomic-test",
        limits: GlobalLimits | None = None,
    ) -> None:
        self.tmp_path, self.url = tmp_path, url
        self.identity, self.limits = identity, limits
        self.server: FakeApiServer = start_fake_apiserver()
        self.alive: list[KubeRig] = []

    def start(self, *, at: float | None = None, identity: str | None = None) -> KubeRig:
        """A replica (``identity`` default: the one given at construction); one that
        starts with the identity of one that died is that pod's container restarted
        (the same ``POD_NAME``)."""
        rig = build_rig(
            self.tmp_path,
            server=self.server,
            ledger_url=self.url,
            start=at,
            identity=self.identity if identity is None else identity,
            limits=self.limits,
        )
        self.alive.append(rig)
        return rig

    def die(self, rig: KubeRig) -> None:
        """The process goes, and whatever it kept in memory with it; the server stays."""
        self.alive.remove(rig)
        rig.cluster.stop()
        rig.api_client.close()
        rig.decisions.approvals.dispatcher.stop()
        rig.ledger.close()

    def close(self) -> None:
        for rig in list(self.alive):
            self.die(rig)
        self.server.stop()


def open_replicas(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    *,
    identity: str = "autonomic-test",
    limits: GlobalLimits | None = None,
) -> Iterator[Replicas]:
    """For a ``replicas`` fixture parametrized "sqlite" / "postgres": ``Replicas`` on a
    SQLite file in ``tmp_path`` or a fresh PostgreSQL schema, closed after the test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        url, _ = fresh_schema(request.getfixturevalue("postgres_url"))
    built = Replicas(tmp_path, url, identity=identity, limits=limits)
    yield built
    built.close()


def seed_web(
    rig: KubeRig,
    *,
    name: str = "web",
    namespace: str = "shop",
    replicas: int = 3,
    images: Sequence[str] = ("shop/web:1", "shop/web:2"),
    memory: str = "256Mi",
    behaviour: str = "Ready",
    rolled_out_at: float | None = None,
    started_at: float | None = None,
    nodes: Sequence[str] = ("node-1", "node-2"),
) -> None:
    """An opted-in Deployment at revision ``len(images)``, pods behaving as told; the
    newest revision rolled out at ``rolled_out_at`` (default: a minute ago)."""
    seed_deployment(
        rig.server.store,
        name,
        namespace=namespace,
        replicas=replicas,
        images=images,
        nodes=nodes,
        labels=dict(ENABLED),
        resources={"requests": {"memory": "128Mi"}, "limits": {"memory": memory}},
    )
    stamp_replicasets(rig, name, namespace, rolled_out_at)
    for pod in rig.server.store.objects("Pod", namespace):
        if pod["metadata"]["labels"].get("app") != name:
            continue
        status = pod_status(behaviour, rig.clock.now() if started_at is None else started_at)
        rig.server.store.modify(
            "Pod", namespace, pod["metadata"]["name"], functools.partial(_set_status, status)
        )


def seed_web_mid_rollout(rig: KubeRig) -> None:
    """``seed_web``, its rollout under way: one pod of the new template updated so far."""
    seed_web(rig)
    rig.server.store.modify(
        "Deployment", "shop", "web", lambda d: d["status"].update(updatedReplicas=1)
    )


def submit_error_ratio_up(rig: KubeRig) -> None:
    """Submit, now, an anomaly: shop/web's ``http_error_ratio`` at 0.2 over a band of
    0 to 0.02 (what the error-rate-pause-rollout runbook takes up)."""
    rig.engine.submit(
        [
            anomaly_signal(
                metric="http_error_ratio",
                target=ObjectRef("Deployment", "web", "shop"),
                observed=0.2,
                lower=0.0,
                upper=0.02,
                score=9.0,
                confidence=0.95,
                at=rig.clock.now(),
            )
        ]
    )


def cycle_failing_first_intent(rig: KubeRig, monkeypatch: pytest.MonkeyPatch) -> str:
    """Thirty seconds on, a cycle whose first write-ahead intent the ledger fails to
    record (a TransientError, raised out of the cycle); later intents are recorded.
    Returns the key the failed intent was for."""
    real = rig.ledger.record_intent
    failed: list[str] = []

    def record_intent(key: str, *args: Any, **kwargs: Any) -> int | None:
        if failed:
            return real(key, *args, **kwargs)
        failed.append(key)
        raise TransientError("the ledger at sqlite:///x write failed: disk I/O error")

    monkeypatch.setattr(rig.ledger, "record_intent", record_intent)
    rig.clock.advance(30)
    with pytest.raises(TransientError):
        rig.cycle()
    return failed[0]


def stamp_replicasets(
    rig: KubeRig, name: str, namespace: str, rolled_out_at: float | None = None
) -> None:
    """Creation times on the fake clock: the fake stamps objects with the wall clock.
    The newest revision at ``rolled_out_at``, older ones two days earlier."""
    newest_at = rig.clock.now() - 60 if rolled_out_at is None else rolled_out_at
    replicasets = [
        rs
        for rs in rig.server.store.objects("ReplicaSet", namespace)
        if rs["metadata"]["labels"].get("app") == name
    ]
    top = max(_revision(rs) for rs in replicasets)
    for rs in replicasets:
        at = newest_at if _revision(rs) == top else newest_at - 2 * 86400
        stamp = rfc3339(at)
        rig.server.store.modify(
            "ReplicaSet",
            namespace,
            rs["metadata"]["name"],
            functools.partial(_set_created, stamp),
        )


def seed_nodes(
    rig: KubeRig,
    count: int,
    *,
    not_ready: dict[str, float] | None = None,
    disk_pressure: dict[str, float] | None = None,
) -> list[str]:
    """``count`` worker nodes; ``not_ready``/``disk_pressure`` map a node to the time its
    condition turned bad."""
    names = [f"node-{i}" for i in range(1, count + 1)]
    for name in names:
        down = (not_ready or {}).get(name)
        full = (disk_pressure or {}).get(name)
        rig.server.store.put(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": {},
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "False" if down is not None else "True",
                            "lastTransitionTime": rfc3339(
                                down if down is not None else rig.clock.now() - 86400
                            ),
                        },
                        {
                            "type": "DiskPressure",
                            "status": "True" if full is not None else "False",
                            "lastTransitionTime": rfc3339(
                                full if full is not None else rig.clock.now() - 86400
                            ),
                        },
                    ]
                },
            }
        )
    return names
