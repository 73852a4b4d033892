"""The predictive scaling loop on the wire when things go wrong: a real Prometheus whose
load series are missing, stale or not numbers, and the in-repo Kubernetes API server
refusing the floor's write (403, 404, 422, 409 again and again) or showing an HPA that
someone changed between the loop's read and its write. The real client, executor and
ledger throughout."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from agent.loops.scaling import RETRY_AFTER_FAILURE
from remediation.ports import ObjectRef, SetHpaMinReplicas
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_deployment, seed_hpa, seed_node
from tests.fakekube.store import RESOURCES
from tests.harness.remote_write import remote_write
from tests.harness.servers import PrometheusServer, openmetrics, prometheus_server
from tests.integration.kube.conftest import eventually
from tests.integration.loops.scaling_rig import ScalingRig

pytestmark = pytest.mark.prometheus

NOW = math.floor(time.time() / 60) * 60
HISTORY_END = NOW - 60 * 60
QUERY = 'wire_rps{namespace="$namespace",deployment="$workload"}'
WEB = ObjectRef("Deployment", "web", "shop")
HPA_PATH = r"/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web$"
# 300 to 500 requests a second at 50 a pod: a floor of about 8 to 12 with the margin.
CAPACITY = "50"


def load(t: float) -> float:
    return 300.0 + 200.0 * math.sin(2 * math.pi * ((t - NOW) % 86400) / 86400)


def labels(name: str) -> dict[str, str]:
    return {"namespace": "shop", "deployment": name}


@pytest.fixture(scope="module")
def prometheus(prometheus_binaries: None) -> Iterator[PrometheusServer]:
    """Eight days of load for ``web``, ``stale`` and ``broken``; none for ``ghost``. The
    newest hour: ``web`` to now; ``stale`` stops 12 minutes ago, after a fivefold surge
    in its last 4 minutes; ``broken``'s last three samples are NaN, +Inf and NaN."""
    minutes = range(int(HISTORY_END - 8 * 86400), int(HISTORY_END) + 1, 60)
    history = [(float(t), load(t)) for t in minutes]
    series = [("wire_rps", labels(name), history) for name in ("web", "stale", "broken")]
    with prometheus_server(openmetrics(series)) as server:
        live = [(float(t), load(t)) for t in range(int(HISTORY_END) + 60, int(NOW) + 1, 60)]
        stale = [(t, v * (5.0 if t > NOW - 16 * 60 else 1.0)) for t, v in live if t <= NOW - 720]
        broken = [*live[:-3], (NOW - 120.0, math.nan), (NOW - 60.0, math.inf), (NOW, math.nan)]
        remote_write(
            server.url,
            [
                ({"__name__": "wire_rps", **labels("web")}, live),
                ({"__name__": "wire_rps", **labels("stale")}, stale),
                ({"__name__": "wire_rps", **labels("broken")}, broken),
            ],
        )
        yield server


class Rig(ScalingRig):
    """The loop in ``act`` mode on the real adapters, the clock at ``start``."""

    def __init__(
        self,
        prometheus: PrometheusServer,
        fake: FakeApiServer,
        tmp_path: Path,
        start: float,
        *,
        started: bool = False,
    ) -> None:
        super().__init__(prometheus, fake, tmp_path, start=start, query=QUERY, started=started)

    def hpa_min(self, name: str = "web") -> int:
        (obj,) = [
            h
            for h in self.fake.store.objects("HorizontalPodAutoscaler", "shop")
            if h["metadata"]["name"] == name
        ]
        return int(obj["spec"]["minReplicas"])

    def hpa_patches(self) -> int:
        return sum(
            r.method == "PATCH" and r.resource == "horizontalpodautoscalers"
            for r in self.fake.requests
        )


def opted_in(fake: FakeApiServer, *names: str) -> None:
    """Deployments opted in with a configured capacity and start-up, each with an HPA at
    minReplicas 2 (its owner's)."""
    seed_node(fake.store, "node-1")
    for name in names:
        seed_deployment(fake.store, name, namespace="shop", replicas=3, images=(f"{name}:1",))

        def opt_in(obj: dict[str, Any]) -> None:
            obj["metadata"]["labels"]["autonomic.dev/enabled"] = "true"
            obj["metadata"]["annotations"].update(
                {
                    "autonomic.dev/predictive": "true",
                    "autonomic.dev/capacity-per-pod": CAPACITY,
                    "autonomic.dev/startup-seconds": "60",
                }
            )

        fake.store.modify("Deployment", "shop", name, opt_in)
        seed_hpa(fake.store, name, target=name, namespace="shop", min_replicas=2, max_replicas=40)


@pytest.fixture
def rig(prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path) -> Iterator[Rig]:
    opted_in(fake, "web")
    made = Rig(prometheus, fake, tmp_path, NOW - 20 * 60)
    eventually(lambda: made.cluster.get_hpa_for(WEB) is not None)
    yield made
    made.close()


# ------------------------------------------------ the write refused


def _forbid(fake: FakeApiServer) -> None:
    fake.forbid("patch", "horizontalpodautoscalers", group="autoscaling")


def _conflict(fake: FakeApiServer) -> None:
    fake.inject(HPA_PATH, method="PATCH", times=1000, status=409)


def _invalid(fake: FakeApiServer) -> None:
    fake.inject(HPA_PATH, method="PATCH", times=1000, status=422)


def _gone(fake: FakeApiServer) -> None:
    # The HPA read before the write answers 404: deleted between the loop's read (from
    # its watch cache) and its write.
    fake.inject(HPA_PATH, method="GET", times=1000, status=404)


REFUSALS = {
    "Forbidden": (_forbid, "not allowed to patch horizontalpodautoscalers"),
    "Conflict": (_conflict, "409 Conflict"),
    "Invalid": (_invalid, "rejected patch horizontalpodautoscalers"),
    "NotFound": (_gone, "no longer exists"),
}


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_a_refused_write_fails_its_decision_says_why_and_backs_off(
    rig: Rig, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    refuse, words = REFUSALS[reason]
    refuse(rig.fake)
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        rig.cycles(4)  # the cycle goes on; nothing raised out of it
    assert rig.hpa_min() == 2
    (decision,) = rig.ledger.decisions(kind="scaling")
    assert decision.status == "failed"
    (failed,) = [f for f in rig.ledger.feedback_for(decision.id) if f["kind"] == "execution"]
    assert failed["outcome"] == "failed" and words in failed["detail"]["why"]
    said = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert len(said) == 1 and f"({reason})" in said[0] and words in said[0]
    assert words in rig.loop.status.held["Deployment/shop/web"]
    patches = rig.hpa_patches()
    rig.fake.allow_all()
    rig.fake.clear_faults()
    rig.cycles(int(RETRY_AFTER_FAILURE / 60) - 4)
    assert rig.hpa_patches() == patches  # not before the back-off
    rig.cycles(2)
    assert rig.hpa_min() > 2  # then written
    assert "Deployment/shop/web" not in rig.loop.status.held


def test_an_hpa_changed_between_the_loops_read_and_its_write_is_not_overwritten(
    rig: Rig,
) -> None:
    """A person sets minReplicas 4 after the loop read the HPA (minReplicas 2) and
    before its write. The patch carries the resourceVersion the executor read, so the
    edit in between is a 409; the write used to read again and set its floor over the
    person's 4 all the same."""

    def hand_edit(hpa: dict[str, Any]) -> None:
        hpa["spec"]["minReplicas"] = 4

    rig.before_each_write(
        lambda: rig.fake.store.modify("HorizontalPodAutoscaler", "shop", "web", hand_edit)
    )
    rig.cycles(1)
    assert rig.hpa_min() == 4  # the person's value stands
    (decision,) = rig.ledger.decisions(kind="scaling")
    assert decision.status == "failed" and decision.proposal["from"] == 2
    why = rig.loop.status.held["Deployment/shop/web"]
    assert "it is 4, not the 2 the decision was made from" in why


def test_an_hpa_replaced_between_the_loops_read_and_its_write_keeps_its_minimum(
    rig: Rig,
) -> None:
    """The HPA is deleted and created again with minReplicas 14 (its new owner's) while
    the loop decides from the old one's 2: its floor is not written over the new 14."""
    hpa_type = next(r for r in RESOURCES if r.kind == "HorizontalPodAutoscaler")

    def replace() -> None:
        rig.fake.store.delete(hpa_type, "shop", "web")
        seed_hpa(
            rig.fake.store, "web", target="web", namespace="shop", min_replicas=14, max_replicas=30
        )

    rig.before_each_write(replace)
    rig.cycles(1)
    assert rig.hpa_min() == 14
    rig.executor.writer = rig.cluster

    def seen() -> bool:
        hpa = rig.cluster.get_hpa_for(WEB)
        return hpa is not None and hpa.min_replicas == 14

    eventually(seen)
    rig.cycles(int(RETRY_AFTER_FAILURE / 60) + 2)
    assert rig.hpa_min() == 14  # the new HPA's own minimum is the loop's floor's floor


def test_replicas_scaled_between_the_loops_read_and_its_write_are_not_overwritten(
    rig: Rig,
) -> None:
    """Without an HPA the loop sets the replicas. A person runs ``kubectl scale
    --replicas=5`` after the loop read 3 and before its write: the write used to set its
    count over theirs. It now carries the count its decision saw, as a floor does."""
    hpa_type = next(r for r in RESOURCES if r.kind == "HorizontalPodAutoscaler")
    rig.fake.store.delete(hpa_type, "shop", "web")
    eventually(lambda: rig.cluster.get_hpa_for(WEB) is None)

    def scale_by_hand(deployment: dict[str, Any]) -> None:
        deployment["spec"]["replicas"] = 5

    rig.before_each_write(lambda: rig.fake.store.modify("Deployment", "shop", "web", scale_by_hand))
    rig.cycles(1)
    (obj,) = [
        d for d in rig.fake.store.objects("Deployment", "shop") if d["metadata"]["name"] == "web"
    ]
    assert obj["spec"]["replicas"] == 5  # theirs stands
    (decision,) = rig.ledger.decisions(kind="scaling")
    assert decision.status == "failed" and decision.proposal["op"] == "scale"
    assert decision.proposal["from"] == 3
    assert "they are 5, not the 3 the decision was made from" in rig.loop.status.held[str(WEB)]


# ------------------------------------------------ someone else writes the floor


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


@pytest.fixture
def watched(prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path) -> Iterator[Rig]:
    """The loop over the watch caches (what they keep of managedFields is what it
    reads), 80 minutes of load ahead, managedFields stamped by the rig's clock; it has
    raised web's floor from its owner's 2, and the cache shows Autonomic's write."""
    opted_in(fake, "web")
    made = Rig(prometheus, fake, tmp_path, NOW - 80 * 60, started=True)
    fake.store.clock = made.clock.now
    try:
        eventually(lambda: made.cluster.get_hpa_for(WEB) is not None)
        made.cycles(3)
        written = made.hpa_min()
        assert written > 2

        def seen() -> bool:
            hpa = made.cluster.get_hpa_for(WEB)
            return hpa is not None and hpa.min_replicas == written

        eventually(seen)
        yield made
    finally:
        made.close()


def _set_min(rig: Rig, value: int, manager: str) -> None:
    client.AutoscalingV2Api(rig.api).patch_namespaced_horizontal_pod_autoscaler(
        "web", "shop", {"spec": {"minReplicas": value}}, field_manager=manager
    )


def _cache_caught_up(rig: Rig) -> None:
    """Until the HPA in the watch cache is the one in the store (its resourceVersion)."""
    (stored,) = rig.fake.store.objects("HorizontalPodAutoscaler", "shop")
    version = stored["metadata"]["resourceVersion"]

    def caught_up() -> bool:
        cached = rig.cluster.caches["HorizontalPodAutoscaler"].items("shop")
        return [h["metadata"]["resourceVersion"] for h in cached] == [version]

    eventually(caught_up)


def _overridden(rig: Rig) -> list[dict[str, Any]]:
    return [
        f["detail"]
        for d in rig.ledger.decisions(kind="scaling")
        for f in rig.ledger.feedback_for(d.id)
        if f["outcome"] == "overridden"
    ]


def test_the_floor_autonomic_wrote_put_back_by_a_gitops_tool_is_theirs(
    watched: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """A person raises minReplicas to 30 for an incident, and Argo CD's self-heal puts
    its manifest's value back within the minute: the very value Autonomic wrote. The
    loop used to take it for its own floor (the value is what the ledger says it
    wrote) and go on writing over a field Argo CD owns. The HPA's managedFields say
    who wrote it last: theirs, held for the hour and said once, naming the manager;
    after the hour the same write is not a new override."""
    rig = watched
    written = rig.hpa_min()
    _set_min(rig, 30, "kubectl-edit")
    _set_min(rig, written, "argocd-controller")
    at = rig.clock.now()
    _cache_caught_up(rig)
    patches = rig.hpa_patches()
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        rig.cycles(50)
    assert rig.hpa_patches() == patches  # nothing written over theirs
    said = [r.getMessage() for r in caplog.records if "as Autonomic wrote" in r.getMessage()]
    assert len(said) == 1, said
    assert f"HorizontalPodAutoscaler/shop/web minReplicas is {written}, as Autonomic" in said[0]
    assert (
        f'but written since by someone else (field manager "argocd-controller", {_utc(at)}); '
        "theirs stands: no floor is written for 60 min"
    ) in said[0]
    assert "argocd-controller" in rig.loop.status.held[str(WEB)]
    (detail,) = _overridden(rig)
    assert (detail["written"], detail["found"], detail["by"]) == (
        written,
        written,
        "argocd-controller",
    )
    rig.cycles(15)  # the hour is over: Argo CD's write, already held for, is not a new one
    assert len(_overridden(rig)) == 1


def test_the_hold_for_a_gitops_put_back_is_said_again_after_a_restart(
    watched: Rig, prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path
) -> None:
    """Argo CD's put-back of the floor Autonomic wrote is held for; the process restarts
    within the hour. The new one reads the hold from the ledger and says it as the first
    did, naming the manager, without a second override or a write."""
    rig = watched
    written = rig.hpa_min()
    _set_min(rig, 30, "kubectl-edit")
    _set_min(rig, written, "argocd-controller")
    _cache_caught_up(rig)
    rig.cycles(3)
    assert len(_overridden(rig)) == 1
    said = rig.loop.status.held[str(WEB)]
    assert "as Autonomic wrote" in said and "argocd-controller" in said
    patches = rig.hpa_patches()
    at = rig.clock.now()
    rig.close()
    again = Rig(prometheus, fake, tmp_path, at, started=True)
    fake.store.clock = again.clock.now
    try:
        eventually(lambda: again.cluster.get_hpa_for(WEB) is not None)
        again.cycles(2)
        held = again.loop.status.held[str(WEB)]
        assert "as Autonomic wrote" in held and 'field manager "argocd-controller"' in held
        assert len(_overridden(again)) == 1
        assert again.hpa_patches() == patches
    finally:
        again.close()


def test_a_floor_changed_by_a_field_manager_names_it(
    watched: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """A value other than Autonomic's was an override before; the sentence now says
    whose, from managedFields, instead of guessing among a person, GitOps and a runbook."""
    rig = watched
    written = rig.hpa_min()
    _set_min(rig, 3, "helm")
    at = rig.clock.now()
    _cache_caught_up(rig)
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        rig.cycles(4)
    assert rig.hpa_min() == 3
    said = [r.getMessage() for r in caplog.records if "Autonomic wrote" in r.getMessage()]
    assert len(said) == 1, said
    assert (f"minReplicas is 3, not the {written} Autonomic wrote (decision ") in said[0]
    assert f'changed by someone else (field manager "helm", {_utc(at)}); theirs stands' in said[0]


class _SameValueFirst:
    """The cluster adapter, with a person setting the very floor the loop is about to
    write (``kubectl-edit``) just before its write: the write then finds it there and
    writes nothing."""

    def __init__(self, rig: Rig) -> None:
        self.rig, self.cluster = rig, rig.cluster
        self.at: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)

    def apply(self, operation: Any, *, dry_run: bool = False, uid: str | None = None) -> Any:
        if self.at is None and isinstance(operation, SetHpaMinReplicas):
            _set_min(self.rig, operation.min_replicas, "kubectl-edit")
            self.at = self.rig.clock.now()
        return self.cluster.apply(operation, dry_run=dry_run, uid=uid)


def test_a_floor_someone_set_before_the_loops_write_of_it_is_no_override(
    prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path
) -> None:
    """A person sets minReplicas to the very value the loop decided (say, after reading
    its Slack question) just before the loop writes it. The write finds it there and
    changes nothing, so Autonomic takes no field: managedFields name the person as the
    owner of spec.minReplicas, from a write made before the loop's. That is not someone
    writing it "since" Autonomic: no override, no hold, no ``overridden`` note."""
    opted_in(fake, "web")
    rig = Rig(prometheus, fake, tmp_path, NOW - 80 * 60, started=True)
    fake.store.clock = rig.clock.now
    try:
        eventually(lambda: rig.cluster.get_hpa_for(WEB) is not None)
        first = _SameValueFirst(rig)
        rig.executor.writer = first
        rig.cycles(1)
        assert first.at is not None
        written = rig.hpa_min()
        assert written > 2
        (hpa,) = fake.store.objects("HorizontalPodAutoscaler", "shop")
        owners = [e["manager"] for e in hpa["metadata"]["managedFields"]]
        assert owners == ["kubectl-edit"]  # the loop's write took nothing
        _cache_caught_up(rig)
        rig.cycles(10)
        assert _overridden(rig) == []
        assert str(WEB) not in rig.loop.status.held, rig.loop.status.held
    finally:
        rig.close()


# ------------------------------------------------ the load read unusable


def test_missing_stale_and_non_numeric_load_hold_the_floor_as_it_is(
    prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path
) -> None:
    """Half an hour ago every read was fresh and the floors were raised. Now ``ghost``
    has no series at all, ``stale``'s newest sample is 12 minutes old (a surge in its
    last minutes, never seen fresh), ``broken``'s newest samples are NaN and +Inf: each
    is held with its reason, no decision is made and no floor moves, up or down; ``web``
    goes on."""
    opted_in(fake, "web", "stale", "broken", "ghost")
    rig = Rig(prometheus, fake, tmp_path, NOW - 30 * 60)
    try:
        eventually(lambda: len(rig.cluster.list_workloads()) == 4)
        rig.cycles(1)
        raised = {name: rig.hpa_min(name) for name in ("web", "stale", "broken", "ghost")}
        assert raised["ghost"] == 2 and all(raised[n] > 2 for n in ("web", "stale", "broken"))
        before = {d.subject for d in rig.ledger.decisions(kind="scaling")}
        count = len(rig.ledger.decisions(kind="scaling"))
        rig.clock.set(NOW)
        rig.cycles(1)
        held = rig.loop.status.held
        assert "the load query returned nothing" in held["Deployment/shop/ghost"]
        assert "a gap in the load series" in held["Deployment/shop/stale"]
        assert "not a usable number" in held["Deployment/shop/broken"]
        assert "Deployment/shop/web" not in held
        for name in ("stale", "broken", "ghost"):
            assert rig.hpa_min(name) == raised[name], name
        everything = rig.ledger.decisions(kind="scaling")  # newest first
        assert {d.subject for d in everything[: len(everything) - count]} <= {str(WEB)}
        assert before >= {"Deployment/shop/stale", "Deployment/shop/broken"}
    finally:
        rig.close()


def test_a_prometheus_that_stopped_storing_holds_the_floor(rig: Rig) -> None:
    """Prometheus stored its last sample at NOW (its remote writes then stopped), and the
    loop runs 7 minutes later. A range read of the gauge still answers every step of its
    5-minute lookback with the last value, so its newest point is 2 minutes old, within
    ``staleAfter`` (5 minutes), and the loop acted on it; it now asks Prometheus when it
    last stored a sample, and holds the floor as for a gap in the load series."""
    rig.cycles(1)
    assert "Deployment/shop/web" not in rig.loop.status.held
    floor = rig.hpa_min()
    rig.clock.set(NOW + 7 * 60)
    found = rig.loop.reader.range(
        QUERY.replace("$namespace", "shop").replace("$workload", "web"),
        NOW,
        NOW + 7 * 60,
        60,
        NOW + 7 * 60,
    )
    assert len(found) == 1 and found[0].usable  # the read alone looks fresh
    rig.cycles(1)
    held = rig.loop.status.held["Deployment/shop/web"]
    assert "a gap in the load series" in held and "Prometheus not storing" in held, held
    assert rig.hpa_min() == floor


# ------------------------------------------------ a write whose outcome is unknown


@pytest.mark.parametrize("landed", [True, False])
def test_a_write_whose_outcome_is_unknown_is_settled_once_the_hpa_answers(
    rig: Rig, landed: bool
) -> None:
    """The floor's write loses its answer (or fails with 503s), and the HPA cannot be
    read after it: nobody can tell whether it landed. The decision used to be failed
    at once though the floor may have been written (with a failed verdict, and a new
    decision and write after the back-off). It now stays approved, the workload held
    and said so; once the HPA answers, a write that landed is settled as applied (and
    judged), one that did not as failed; neither is written again."""
    rig.fake.inject(HPA_PATH, method="GET", times=2)  # the reads before the write pass
    if landed:  # applied, but the answer is lost; the retry's 409 sends it to re-read
        rig.fake.inject(HPA_PATH, method="PATCH", lost_answer=True)
    else:
        rig.fake.inject(HPA_PATH, method="PATCH", times=1000, status=503)
    rig.fake.inject(HPA_PATH, method="GET", times=1000, status=503)  # then no read answers
    rig.cycles(1)
    (decision,) = rig.ledger.decisions(kind="scaling")
    assert decision.status == "approved"
    (intent,) = rig.ledger.intents()
    assert intent.status == "pending"
    assert "is not known yet" in rig.loop.status.held[str(WEB)]
    patches = rig.hpa_patches()
    rig.cycles(3)  # still unreadable: still waiting, nothing written, nothing decided
    assert "whether it was written is not known yet" in rig.loop.status.held[str(WEB)]
    assert rig.ledger.get_decision(decision.id).status == "approved"  # type: ignore[union-attr]
    assert rig.hpa_patches() == patches and len(rig.ledger.decisions(kind="scaling")) == 1
    rig.fake.clear_faults()
    rig.cycles(1)
    settled = rig.ledger.get_decision(decision.id)
    (intent,) = rig.ledger.intents()
    assert settled is not None
    if landed:
        assert intent.status == "applied" and settled.status == "verifying"
        assert rig.hpa_min() == decision.proposal["to"] > 2
    else:
        assert intent.status == "abandoned" and settled.status == "failed"
        assert rig.hpa_min() == 2
    assert rig.hpa_patches() == patches  # not written again


@pytest.mark.parametrize("landed", [True, False], ids=["landed", "not-landed"])
def test_a_write_whose_outcome_is_unknown_is_settled_by_the_next_leader(
    rig: Rig, prometheus: PrometheusServer, fake: FakeApiServer, tmp_path: Path, landed: bool
) -> None:
    """The replica that made the write loses the lease before it can read the HPA back.
    The next leader, on the same ledger, settles the write-ahead record from what the
    cluster shows when it recovers (the daemon's first job of a term), then follows the
    approved decision up: judged if the floor landed, failed if it did not; never
    written a second time, and no second decision for it."""
    rig.fake.inject(HPA_PATH, method="GET", times=2)
    if landed:
        rig.fake.inject(HPA_PATH, method="PATCH", lost_answer=True)
    else:
        rig.fake.inject(HPA_PATH, method="PATCH", times=1000, status=503)
    rig.fake.inject(HPA_PATH, method="GET", times=1000, status=503)
    rig.cycles(1)
    (decision,) = rig.ledger.decisions(kind="scaling")
    assert decision.status == "approved"
    patches = rig.hpa_patches()

    fake.clear_faults()  # the API answers again, to the replica that now leads
    other = Rig(prometheus, fake, tmp_path, rig.clock.now())
    try:
        eventually(lambda: other.cluster.get_hpa_for(WEB) is not None)
        ((intent, status),) = other.executor.reconcile()
        assert intent.id == rig.ledger.intents()[0].id
        assert status == ("applied" if landed else "abandoned")
        other.cycles(1)
        settled = other.ledger.get_decision(decision.id)
        assert settled is not None
        assert settled.status == ("verifying" if landed else "failed")
        assert other.hpa_min() == (decision.proposal["to"] if landed else 2)
        assert other.hpa_patches() == patches  # not written again
        assert [d.id for d in other.ledger.decisions(kind="scaling")] == [decision.id]
    finally:
        other.close()
