"""An Argo Rollout's own canary, judged through the real client against the fake API server.

While an opted-in Rollout with the canary strategy is mid-rollout, its canary ReplicaSet
(``status.currentPodHash``) is judged against its stable one (``status.stableRS``), each
read with ``canary.rolloutQueries`` (``$replicaset``); the verdict is a decision, an
Event on the Rollout and the ``/canary/verdict`` answer Argo's ``web`` metric reads, and
nothing writes to the Rollout (Argo owns it).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kubernetes import KubernetesCluster
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.ledger import Ledger, open_ledger
from agent.loops.canary import CanaryLoop
from agent.observability import Metrics
from agent.server import Request
from agent.settings import CanarySettings, RoutingSettings
from agent.sim.metrics import SimMetrics
from remediation.ports import ObjectRef
from remediation.signals import Signal
from tests.fakekube import FakeApiServer
from tests.fakekube.seed import seed_node, seed_rollout, seed_rollout_canary

WEB = ObjectRef("Rollout", "web", "shop")
SEL = '{namespace="$namespace",replicaset="$replicaset"}'
SLOW, HEALTHY = 1.5, 1.0


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def opt_in(fake: FakeApiServer, name: str = "web") -> None:
    fake.store.modify(
        "Rollout",
        "shop",
        name,
        lambda r: r["metadata"]["labels"].update(
            {"autonomic.dev/enabled": "true", "autonomic.dev/judge-canary": "true"}
        ),
    )


def stable_hash(fake: FakeApiServer, name: str = "web") -> str:
    (rollout,) = [r for r in fake.store.objects("Rollout", "shop") if r["metadata"]["name"] == name]
    return str(rollout["status"]["stableRS"])


class Rig:
    """The canary loop over the adapter (real client, fake API server, not started: every
    read is a fresh LIST or GET) and simulated per-ReplicaSet series."""

    def __init__(self, fake: FakeApiServer, cluster: KubernetesCluster, ledger: Ledger) -> None:
        self.fake, self.cluster, self.ledger = fake, cluster, ledger
        self.clock = FakeClock(1_700_000_000)
        self.metrics = SimMetrics()
        self.rng = random.Random(5)
        self.decisions = DecisionService(
            ledger,
            self.clock,
            RoutingSettings(),
            mode="act",
            approvals=Approvals(
                ledger, LedgerOnlyChannel(ledger, self.clock.now), ttl=900, snooze=900
            ),
            metrics=Metrics(),
        )
        self.signals: list[Signal] = []
        self.progress: list[tuple[str, str]] = []  # what people are told of each decision
        told = self.decisions.progress

        def progress(decision_id: str, text: str, *, final: bool = False) -> None:
            self.progress.append((decision_id, text))
            told(decision_id, text, final=final)

        self.decisions.progress = progress  # type: ignore[method-assign]
        self.loop = self.new_loop()

    def new_loop(self) -> CanaryLoop:
        """A loop as a restarted daemon (or a new leader) builds it: nothing in memory."""
        columns = {"latency_p99": "lat", "errors": "err", "requests": "req"}
        deployments = '{namespace="$namespace",deployment="$workload"}'
        return CanaryLoop(
            CanarySettings(
                queries={column: name + deployments for column, name in columns.items()},
                rollout_queries={column: name + SEL for column, name in columns.items()},
            ),
            reader=self.metrics,
            cluster=self.cluster,
            decisions=self.decisions,
            clock=self.clock,
            submit=self.signals.extend,
            events=lambda ref, reason, message, warning: self.cluster.post_event(
                ref, reason, message, warning=warning
            ),
        )

    def series(self, replicaset: str, slowdown: float, minutes: int = 150) -> None:
        """Per-minute latency, requests and errors of one ReplicaSet's pods."""
        for minute in range(minutes):
            at = self.clock.now() + 60 * minute
            labels = {"namespace": "shop", "replicaset": replicaset}
            value = 100 * slowdown * self.rng.lognormvariate(0, 0.05)
            self.metrics.record("lat", labels, at, value)
            self.metrics.record("req", labels, at, 600.0)
            self.metrics.record("err", labels, at, float(self.rng.random() < 0.3))

    def canary(self, image: str, slowdown: float) -> str:
        """Start a canary step running ``image``; its pod-template hash."""
        pod_hash = str(
            seed_rollout_canary(self.fake.store, "web", namespace="shop", image=image)["pod_hash"]
        )
        self.series(f"web-{pod_hash}", slowdown)
        return pod_hash

    def cycle(self, minutes: int = 1) -> None:
        for _ in range(minutes):
            self.clock.advance(60)
            self.loop.cycle()

    def until_recorded(self, minutes: int = 90) -> str:
        for _ in range(minutes):
            self.cycle()
            ids = [a.decision_id for a in self.loop.analyses.values() if a.decision_id]
            if ids:
                return ids[0]
        raise AssertionError("no final verdict")

    def until_recorded_after(self, earlier: str, minutes: int = 90) -> str:
        """Cycle until a final verdict other than decision ``earlier`` is recorded."""
        for _ in range(minutes):
            self.cycle()
            ids = [
                a.decision_id
                for a in self.loop.analyses.values()
                if a.decision_id and a.decision_id != earlier
            ]
            if ids:
                return ids[0]
        raise AssertionError("no new final verdict")

    def ask(self, name: str = "web") -> tuple[int, dict[str, Any]]:
        query = {"namespace": ["shop"], "canary": [name]}
        response = self.loop.argo(Request("GET", "/canary/verdict", query, {}, b""))
        body: dict[str, Any] = json.loads(response.body)
        return response.status, body

    def events(self) -> list[tuple[str, str, str]]:
        return [
            (e["involvedObject"]["kind"], e["involvedObject"]["name"], e["reason"])
            for e in self.fake.store.objects("Event", "shop")
        ]

    def writes_to_rollouts(self) -> list[str]:
        return [
            f"{r.method} {r.path}"
            for r in self.fake.requests
            if r.resource.startswith("rollouts") and r.verb not in ("get", "list", "watch")
        ]


@pytest.fixture
def rig(fake: FakeApiServer, cluster: KubernetesCluster, ledger: Ledger) -> Rig:
    seed_node(fake.store, "node-1")
    seed_rollout(fake.store, "web", namespace="shop", replicas=4, image="web:1")
    opt_in(fake)
    made = Rig(fake, cluster, ledger)
    made.series(f"web-{stable_hash(fake)}", 1.0)
    return made


def test_a_slow_canary_replicaset_is_judged_rollback_and_argo_is_told_nothing_writes(
    rig: Rig,
) -> None:
    pod_hash = rig.canary("web:2", SLOW)
    status, body = rig.ask()
    assert (status, body["verdict"]) == (200, "continue")  # not judged yet: taken next cycle
    decision_id = rig.until_recorded()
    (decision,) = rig.ledger.decisions(kind="canary")
    assert decision.id == decision_id and decision.subject == "Rollout/shop/web"
    assert decision.proposal["verdict"] == "rollback" and decision.route == "auto"
    assert decision.proposal["pod_hash"] == pod_hash
    assert decision.proposal["stable_hash"] == stable_hash(rig.fake)
    assert decision.proposal["baseline"] == f"ReplicaSet/shop/web-{stable_hash(rig.fake)}"
    assert decision.proposal["images"] == ["web:2"]
    assert decision.proposal["baseline_images"] == ["web:1"]
    status, body = rig.ask()
    assert status == 200 and body["verdict"] == "rollback" and body["confidence"] > 0.9
    assert body["pod_template_hash"] == pod_hash and body["decision_id"] == decision_id
    assert ("Rollout", "web", "CanaryRollback") in rig.events()
    rig.cycle()  # the approved verdict is handed on: to Argo only
    (decision,) = rig.ledger.decisions(kind="canary")
    assert decision.status == "done"
    assert rig.signals == []  # no runbook (canary-rollback patches Deployments) gets it
    assert rig.writes_to_rollouts() == []
    assert any(
        d == decision_id and "handed to Argo Rollouts through the verdict endpoint" in text
        for d, text in rig.progress
    )


def test_a_healthy_canary_replicaset_is_judged_promote_held_until_a_person_approves(
    rig: Rig,
) -> None:
    pod_hash = rig.canary("web:2", HEALTHY)
    decision_id = rig.until_recorded()
    status, body = rig.ask()
    # The promotion's confidence is below the automatic threshold: asked, so held.
    assert (status, body["verdict"], body["judge_verdict"]) == (200, "inconclusive", "promote")
    assert body["decision_status"] == "asked" and body["pod_template_hash"] == pod_hash
    (question,) = [q for q in rig.ledger.questions() if q.decision_id == decision_id]
    assert rig.decisions.answer(question.id, "approved", "alice")
    rig.cycle()
    status, body = rig.ask()
    assert (status, body["verdict"], body["decision_status"]) == (200, "promote", "done")
    assert ("Rollout", "web", "CanaryPromote") in rig.events()
    assert rig.signals == [] and rig.writes_to_rollouts() == []
    # Argo promotes: the canary becomes the stable; the promotion is watched on stableRS.
    rig.fake.store.modify(
        "Rollout", "shop", "web", lambda r: r["status"].update(stableRS=pod_hash, phase="Healthy")
    )
    rig.cycle(61)
    (verified,) = [f for f in rig.ledger.feedback_for(decision_id) if f["kind"] == "verification"]
    assert verified["outcome"] == "right"


def test_a_new_canary_hash_mid_analysis_starts_a_new_analysis(rig: Rig) -> None:
    first = rig.canary("web:2", HEALTHY)
    rig.cycle(5)
    second = rig.canary("web:3", HEALTHY)
    status, body = rig.ask()  # before the loop takes it: not the older release's analysis
    assert (status, body["verdict"], body["decision_id"]) == (200, "continue", None)
    assert f"pod-template hash {second}, not {first}" in body["reason"]
    rig.cycle()
    analyses = {a.pod_hash: a for a in rig.loop.analyses.values()}
    assert set(analyses) == {first, second}
    assert len(analyses[second].history) == 1 and len(analyses[first].history) == 5
    assert rig.loop.current[WEB] == (WEB, 3, ("web:3",), second)


def test_an_older_hashs_verdict_is_never_the_answer_for_a_newer_canary(rig: Rig) -> None:
    rig.canary("web:2", SLOW)
    rig.until_recorded()
    assert rig.ask()[1]["verdict"] == "rollback"
    fixed = rig.canary("web:2-fix", HEALTHY)  # a fix rolled out before the next cycle
    status, body = rig.ask()
    assert (status, body["verdict"], body["decision_id"]) == (200, "continue", None)
    assert f"now rolling out pod-template hash {fixed}" in body["reason"]
    rig.cycle()
    status, body = rig.ask()
    assert body["verdict"] == "continue" and body["pod_template_hash"] == fixed


def test_a_rollout_not_opted_in_or_not_mid_rollout_is_a_404_saying_why(rig: Rig) -> None:
    status, body = rig.ask()  # opted in, but nothing rolling out
    assert status == 404
    assert "Rollout shop/web is not mid-rollout" in body["error"]
    assert "currentPodHash = status.stableRS" in body["error"]
    seed_rollout(rig.fake.store, "api", namespace="shop", image="api:1")
    seed_rollout_canary(rig.fake.store, "api", namespace="shop", image="api:2")
    rig.cycle(3)
    assert all(a.canary != ObjectRef("Rollout", "api", "shop") for a in rig.loop.analyses.values())
    status, body = rig.ask("api")
    assert status == 404
    assert 'Rollout shop/api is not opted in (autonomic.dev/enabled: "true")' in body["error"]


def test_an_aborted_or_finished_rollout_ends_the_analysis(rig: Rig) -> None:
    rig.canary("web:2", HEALTHY)
    rig.cycle(3)
    (analysis,) = rig.loop.analyses.values()
    rig.fake.store.modify("Rollout", "shop", "web", lambda r: r["status"].update(abort=True))
    rig.cycle()
    assert analysis.ended and WEB not in rig.loop.current
    status, body = rig.ask()
    assert status == 404 and "was aborted (status.abort)" in body["error"]
    assert rig.ledger.decisions(kind="canary") == []


def test_a_restart_takes_the_analysis_up_from_the_ledger_and_prometheus(rig: Rig) -> None:
    pod_hash = rig.canary("web:2", SLOW)
    rig.cycle(4)
    (live,) = rig.loop.analyses.values()
    assert len(live.history) == 4  # the first at the cycle that began the analysis
    rig.loop = rig.new_loop()  # a restart, or another replica became the leader
    rig.cycle()
    (analysis,) = rig.loop.analyses.values()
    # The 4 intervals the live run judged since the analysis began (its start included),
    # read back from Prometheus, and this one. Before session 42 a restart a whole
    # number of periods after the start left out the interval at the start: 3 and this.
    assert analysis.pod_hash == pod_hash and len(analysis.history) == 5
    assert analysis.history[:4] == live.history
    decision_id = rig.until_recorded()
    rig.loop = rig.new_loop()
    rig.cycle()
    (again,) = rig.loop.analyses.values()
    assert again.recorded and again.decision_id == decision_id
    assert len(rig.ledger.decisions(kind="canary")) == 1  # neither judged nor decided twice
    assert rig.ask()[1]["verdict"] == "rollback"


def test_a_rollout_opted_in_without_the_judge_canary_label_is_not_judged(rig: Rig) -> None:
    # Opted in (for scaling, say) but not asked to judge its canaries: a verdict would be
    # a question whose answer acts on nothing unless an Argo analysis consults the endpoint.
    rig.fake.store.modify(
        "Rollout",
        "shop",
        "web",
        lambda r: r["metadata"]["labels"].pop("autonomic.dev/judge-canary"),
    )
    rig.canary("web:2", SLOW)
    rig.cycle(6)
    assert rig.loop.analyses == {} and rig.ledger.decisions(kind="canary") == []
    status, body = rig.ask()
    assert status == 404
    assert 'Rollout shop/web is not labelled autonomic.dev/judge-canary: "true"' in body["error"]


def asked_promotion(rig: Rig) -> tuple[str, str, str]:
    """A healthy canary judged promote, asked (below the automatic threshold): its hash,
    decision id and question id."""
    pod_hash = rig.canary("web:2", HEALTHY)
    decision_id = rig.until_recorded()
    (question,) = rig.ledger.questions_for([decision_id])
    assert question.status == "pending" and rig.ask()[1]["decision_status"] == "asked"
    return pod_hash, decision_id, question.id


def test_a_question_open_when_the_rollout_is_promoted_with_full_is_closed(rig: Rig) -> None:
    """`kubectl argo rollouts promote --full` while the promotion is asked about: the
    hashes are equal, the analysis ends, and the question no longer means anything. It used
    to stay open until its expiry escalated it; it is closed as superseded, saying so, and
    the promotion is not watched (nobody's answer: no verdict on the judge)."""
    pod_hash, decision_id, question_id = asked_promotion(rig)
    rig.fake.store.modify(
        "Rollout", "shop", "web", lambda r: r["status"].update(stableRS=pod_hash, phase="Healthy")
    )
    rig.cycle()
    (question,) = rig.ledger.questions_for([decision_id])
    assert question.status == "superseded"
    assert question.answer_reason == (
        f"no longer needed: Rollout/shop/web was promoted: its stable ReplicaSet is now "
        f"{pod_hash}, the one judged (its steps finished, or it was promoted with --full)"
    )
    assert not rig.decisions.answer(question_id, "approved", "alice")
    rig.cycle(61)
    record = rig.ledger.get_decision(decision_id)
    assert record is not None and record.status == "superseded"
    assert [f["kind"] for f in rig.ledger.feedback_for(decision_id)] == ["superseded"]
    assert rig.writes_to_rollouts() == []


def test_a_rollout_aborted_while_asked_then_retried_is_judged_afresh(rig: Rig) -> None:
    """`kubectl argo rollouts abort` while the verdict is asked about closes the question
    (superseded: the canary was rolled back without it). `retry` runs the same hash again:
    the closed verdict is no answer for it (it used to hold the retried rollout,
    inconclusive, on a question nobody could answer any more), so the canary is judged
    afresh, "continue" meanwhile, and its new verdict is a new decision."""
    pod_hash, decision_id, _ = asked_promotion(rig)
    rig.fake.store.modify("Rollout", "shop", "web", lambda r: r["status"].update(abort=True))
    rig.cycle()
    (question,) = rig.ledger.questions_for([decision_id])
    assert question.status == "superseded"
    assert "Rollout/shop/web was aborted (status.abort)" in str(question.answer_reason)
    rig.fake.store.modify("Rollout", "shop", "web", lambda r: r["status"].update(abort=False))
    rig.cycle()
    status, body = rig.ask()
    assert (status, body["verdict"], body["decision_id"]) == (200, "continue", None)
    assert body["pod_template_hash"] == pod_hash
    again = rig.until_recorded_after(decision_id)
    assert again != decision_id
    assert rig.ledger.get_decision(again).status == "asked"  # type: ignore[union-attr]
    assert rig.ask()[1]["decision_id"] == again


def test_a_rollout_retried_after_an_automatic_rollback_is_answered_rollback_again(
    rig: Rig,
) -> None:
    """The verdict acted on stands for the same hash (the docs say so): a retried rollout
    of the rejected hash is answered "rollback" at once, as before the abort."""
    rig.canary("web:2", SLOW)
    decision_id = rig.until_recorded()
    rig.fake.store.modify("Rollout", "shop", "web", lambda r: r["status"].update(abort=True))
    rig.cycle()
    rig.fake.store.modify("Rollout", "shop", "web", lambda r: r["status"].update(abort=False))
    rig.cycle()
    status, body = rig.ask()
    assert (status, body["verdict"], body["decision_id"]) == (200, "rollback", decision_id)
    assert len(rig.ledger.decisions(kind="canary")) == 1
