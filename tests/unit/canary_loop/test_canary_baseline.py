"""A native canary compared with a fresh baseline (``autonomic.dev/baseline-of``): the
stable's images, deployed with the canary, whose series are read in place of the stable's,
while promotion and rollback still act on the stable and the canary."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli.explain_cmd import render
from agent.ledger import Ledger, open_ledger
from agent.loops.canary import BASELINE_OF, CanaryLoop
from agent.sim.cluster import SimCluster, SimWorkload, Template
from agent.sim.metrics import SimMetrics
from remediation.planning import Plan, plan
from remediation.ports import ObjectRef, SetImages, UnreadObject, VolumeClaimState, WorkloadState
from remediation.snapshot import ClusterSnapshot
from tests.unit.canary_loop.test_canary_loop import (
    CANARY,
    PROMOTE_CANARY,
    STABLE,
    argo_answer,
    rig,
    run_until_final,
    shipped_runbooks,
    verdict_events,
)

BASELINE = ObjectRef("Deployment", "search-baseline", "shop")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def add_baseline(
    loop: CanaryLoop,
    cluster: SimCluster,
    *,
    name: str = "search-baseline",
    image: str = "search:3",
    slowdown: float = 1.0,
    started: float | None = None,
    replicas: int = 1,
    template: Template | None = None,
    kind: str = "Deployment",
) -> ObjectRef:
    """A baseline of ``search`` (opted in) running ``image`` (or ``template``) on
    ``replicas`` pods (the canary's size in the rig), whose latency is the stable's times
    ``slowdown``, over the same two hours of series the rig records."""
    ref = ObjectRef(kind, name, "shop")
    labels = {"autonomic.dev/enabled": "true", BASELINE_OF: "search"}
    pods = {1: template or Template(image)}
    workload = SimWorkload(ref, replicas, pods, 1, 80, 30, labels=labels)
    workload.last_rollout_at = started
    cluster.add_workload(workload)
    metrics = loop.reader
    assert isinstance(metrics, SimMetrics)
    rng = random.Random(7)
    start = loop.clock.now()
    for minute in range(120):
        at = start + 60 * minute
        series = {"namespace": "shop", "deployment": name}
        metrics.record("lat", series, at, 100 * slowdown * rng.lognormvariate(0, 0.05))
        metrics.record("req", series, at, 600.0)
        metrics.record("err", series, at, float(rng.random() < 0.3))
    return ref


def test_the_canary_is_judged_against_the_baseline_and_every_report_says_so(
    ledger: Ledger,
) -> None:
    """The canary is 1.5 times slower than the long-running stable, and as slow as its fresh
    baseline: judged against the baseline, it is no worse (promoted, not rolled back), the
    queries read name the baseline, and the decision, its Event and explain say which."""
    loop, signals, clock, cluster = rig(ledger, canary_slowdown=1.5)
    cluster.workloads[CANARY].last_rollout_at = clock.now()
    add_baseline(loop, cluster, slowdown=1.5, started=clock.now() - 30)
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "promote"
    assert not any(s.name == "rollback" for s in signals)
    assert decision.proposal["baseline"] == str(STABLE)  # the stable is still the one acted on
    assert decision.proposal["compared_with"] == str(BASELINE)
    queries = decision.evidence["queries"]
    assert all('deployment="search-baseline"' in q for q in queries["baseline"].values())
    assert all('deployment="search-canary"' in q for q in queries["canary"].values())
    said = "Compared with baseline shop/search-baseline, started 2023-11-14 22:12:50 UTC"
    assert decision.evidence["compared_with"].startswith(said)
    assert "not as fresh" not in decision.evidence["compared_with"]
    assert said in decision.reason
    ((_, reason, message, _),) = verdict_events(cluster)
    assert reason == "CanaryPromote" and said in message
    assert said in render(ledger, decision.id)


def test_a_baseline_started_long_before_the_canary_is_used_and_said_so(ledger: Ledger) -> None:
    loop, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    cluster.workloads[CANARY].last_rollout_at = clock.now()
    add_baseline(loop, cluster, started=clock.now() - 3 * 3600 - 300)
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["compared_with"] == str(BASELINE)
    assert "it started 3 h 5 min before the canary, so it is not as fresh" in decision.reason


def test_an_approved_promotion_still_writes_the_stable_never_the_baseline(
    ledger: Ledger,
) -> None:
    loop, signals, clock, cluster = rig(
        ledger, canary_slowdown=1.0, canary_labels={PROMOTE_CANARY: "true"}
    )
    shipped = shipped_runbooks()
    loop.runbooks = lambda: shipped
    add_baseline(loop, cluster)
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "promote" and decision.status == "asked"
    assert decision.proposal["compared_with"] == str(BASELINE)
    assert str(decision.evidence["if_approved"]).startswith(
        "runbook canary-promote promotes it without asking again: Deployment/shop/search "
        "takes the canary's images"
    )
    assert ledger.transition(decision.id, ["asked"], "approved", clock.now())
    clock.advance(60)
    loop.cycle()
    (signal,) = signals
    assert signal.target == CANARY and signal.name == "promote"
    assert loop.watching[decision.id].baseline == STABLE  # the stable is verified
    (promote,) = [r for r in shipped if r.name == "canary-promote"]
    snapshot = ClusterSnapshot(workloads=tuple(cluster.list_workloads()), taken_at=clock.now())
    planned = plan(promote, signal, snapshot, clock.now())
    assert isinstance(planned, Plan), planned
    (set_images,) = [op for op in planned.operations if isinstance(op, SetImages)]
    assert set_images.target == STABLE
    assert all(getattr(op, "target", None) != BASELINE for op in planned.operations)


def test_a_baseline_on_other_images_is_not_used_and_said_once(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Its images are not the stable's: the canary (1.5 times slower than the stable) is
    compared with the stable and rolled back, though the baseline is as slow; why is
    logged once, not each cycle, and said in the verdict."""
    loop, signals, clock, cluster = rig(ledger, canary_slowdown=1.5)
    add_baseline(loop, cluster, image="search:2", slowdown=1.5)
    with caplog.at_level(logging.WARNING, logger="autonomic.canary"):
        run_until_final(loop, clock, minutes=20)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "rollback"
    assert "compared_with" not in decision.proposal
    queries = decision.evidence["queries"]
    assert all('deployment="search"' in q for q in queries["baseline"].values())
    why = (
        "Compared with the stable shop/search: baseline shop/search-baseline runs search:2, "
        "not the stable's search:3, so it is not used."
    )
    assert decision.evidence["compared_with"] == why and why in decision.reason
    said = [r for r in caplog.records if "not the stable's search:3" in r.getMessage()]
    assert len(said) == 1
    assert [s.name for s in signals] == ["rollback"]


def test_two_baselines_for_one_stable_neither_is_used_and_it_is_said(ledger: Ledger) -> None:
    loop, _signals, clock, cluster = rig(ledger, canary_slowdown=1.5)
    add_baseline(loop, cluster, slowdown=1.5)
    add_baseline(loop, cluster, name="search-baseline-2", slowdown=1.5)
    run_until_final(loop, clock, minutes=20)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "rollback"  # against the stable
    assert "compared_with" not in decision.proposal
    assert decision.evidence["compared_with"] == (
        "Compared with the stable shop/search: 2 workloads are labelled "
        "autonomic.dev/baseline-of: search (shop/search-baseline, shop/search-baseline-2), "
        "so none is used: which one is the fresh baseline cannot be told."
    )


def test_a_baseline_deleted_mid_analysis_drops_the_evidence_not_the_clock(
    ledger: Ledger,
) -> None:
    """The series compared change, so the evidence gathered against the baseline is
    dropped and the analysis goes on against the stable; its clock (maxDuration) still
    counts from its first start."""
    loop, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(loop, cluster)
    run_until_final(loop, clock, minutes=3)
    (analysis,) = loop.analyses.values()
    assert analysis.compared == BASELINE and not analysis.recorded
    assert len(analysis.history) == 3
    cluster.remove_workload(BASELINE)
    clock.advance(60)
    loop.cycle()
    (analysis,) = loop.analyses.values()
    assert analysis.compared is None and analysis.compared_says == ""
    assert analysis.started_at == clock.now() - 3 * 60 and len(analysis.history) == 1
    assert analysis.evidence_since == clock.now() and analysis.changes == 1


def _restarted(live: CanaryLoop, cluster: SimCluster) -> CanaryLoop:
    """A new process's loop on the same ledger, cluster and Prometheus."""
    return CanaryLoop(
        live.settings,
        reader=live.reader,
        cluster=cluster,
        decisions=live.decisions,
        clock=live.clock,
        submit=[].extend,
        events=live.events,
    )


def test_a_restart_takes_the_analysis_up_against_the_same_baseline(ledger: Ledger) -> None:
    """Its start kept in the ledger names the baseline: a new process goes on with the
    same clock and reads the earlier intervals back from the baseline's series (the
    stable's would tell another story: the canary is 1.5 times slower than the stable)."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.5)
    add_baseline(live, cluster, slowdown=1.5)
    run_until_final(live, clock, minutes=5)
    (analysis,) = live.analyses.values()
    assert analysis.latest is not None and not analysis.latest.final
    restarted = _restarted(live, cluster)
    clock.advance(60)
    restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.compared == BASELINE and again.started_at == analysis.started_at
    assert again.latest is not None and again.latest.decision.value != "rollback"
    assert [h[1] for h in again.history[:5]] == [h[1] for h in analysis.history]


def test_a_restart_after_the_baseline_went_drops_the_evidence_and_keeps_the_clock(
    ledger: Ledger,
) -> None:
    """The baseline went while no process judged: the new process compares with the
    stable from now on (nothing read back against it), on the clock of the first start."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(live, cluster)
    run_until_final(live, clock, minutes=5)
    (analysis,) = live.analyses.values()
    cluster.remove_workload(BASELINE)
    restarted = _restarted(live, cluster)
    clock.advance(60)
    restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.compared is None and again.started_at == analysis.started_at
    assert again.evidence_since == clock.now() and again.changes == 1
    assert len(again.history) == 1


def test_a_verdict_read_back_after_a_restart_names_the_baseline_it_was_judged_against(
    ledger: Ledger,
) -> None:
    """The baseline is deleted once the verdict is out (as a pipeline cleans up), then the
    daemon restarts: the verdict found in the ledger still says it was judged against the
    baseline, in its sentence and in the endpoints' ``compared_with``."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(live, cluster)
    run_until_final(live, clock)
    (decision,) = ledger.decisions(kind="canary")
    said = "Compared with baseline shop/search-baseline"
    assert str(argo_answer(live)["compared_with"]).startswith(said)
    cluster.remove_workload(BASELINE)
    restarted = _restarted(live, cluster)
    clock.advance(60)
    restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.recorded and again.decision_id == decision.id
    assert again.compared == BASELINE
    body = argo_answer(restarted)
    assert str(body["compared_with"]).startswith(said) and said in str(body["sentence"])


def test_a_baseline_with_other_resources_than_the_stable_is_not_used(ledger: Ledger) -> None:
    """The stable's images but a tenth of a CPU: a baseline made slow (on purpose or not)
    would make a canary 1.5 times slower than the stable look no worse. Its pod template
    differs from the stable's beyond the images, so the stable is compared with, and the
    canary is rolled back; the verdict says why."""
    loop, signals, clock, cluster = rig(ledger, canary_slowdown=1.5)
    slow = Template("search:3", limits={"cpu": "100m"})
    add_baseline(loop, cluster, slowdown=1.5, template=slow)
    run_until_final(loop, clock, minutes=20)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "rollback"
    assert "compared_with" not in decision.proposal
    said = decision.evidence["compared_with"]
    assert said.startswith("Compared with the stable shop/search: baseline shop/search-baseline")
    assert "limits cpu=100m" in said and "not used" in said
    assert [s.name for s in signals] == ["rollback"]


def test_a_baseline_not_the_canary_s_size_is_not_used(ledger: Ledger) -> None:
    """The canary runs 3 pods, the baseline 1: not the same size (Kayenta's rule), so it
    is not used; the canary, 1.5 times slower than the stable, is rolled back."""
    loop, signals, clock, cluster = rig(ledger, canary_slowdown=1.5)
    cluster.workloads[CANARY].replicas = 3
    add_baseline(loop, cluster, slowdown=1.5, replicas=1)
    run_until_final(loop, clock, minutes=20)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "rollback"
    assert "compared_with" not in decision.proposal
    said = decision.evidence["compared_with"]
    assert "runs 1 replica, the canary 3" in said and "not used" in said
    assert [s.name for s in signals] == ["rollback"]


def test_a_baseline_of_another_kind_than_the_stable_is_said_not_used(ledger: Ledger) -> None:
    """A StatefulSet labelled as the baseline of the stable Deployment: not used, and,
    rather than being passed over in silence, the verdict says why."""
    loop, _signals, clock, cluster = rig(ledger, canary_slowdown=1.5)
    add_baseline(loop, cluster, slowdown=1.5, kind="StatefulSet")
    run_until_final(loop, clock, minutes=20)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "rollback"
    assert "compared_with" not in decision.proposal
    said = decision.evidence["compared_with"]
    assert "StatefulSet/shop/search-baseline" in said and "not a Deployment" in said


class _Unreadable(SimCluster):
    """A cluster whose listing leaves out, as unreadable, the objects in ``unreadable``
    (the Kubernetes adapter's ``BadObjectError``)."""

    unreadable: set[ObjectRef]
    objects_skipped = 0

    def list_workloads(  # type: ignore[override]
        self, namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[WorkloadState]:
        listed = super().list_workloads(namespace)
        if unread is not None:
            unread.extend(UnreadObject(w.ref, "bad field") for w in listed if self._left(w))
        return [w for w in listed if not self._left(w)]

    def list_volume_claims(  # the rest of what an ``UnreadReporter`` answers
        self, namespace: str | None = None, *, unread: list[UnreadObject] | None = None
    ) -> list[VolumeClaimState]:
        return []

    def _left(self, workload: WorkloadState) -> bool:
        return workload.ref in getattr(self, "unreadable", set())


def test_a_baseline_that_cannot_be_read_for_a_cycle_holds_the_analysis(ledger: Ledger) -> None:
    """The baseline is there but one listing cannot read it: that is not "gone", so the
    analysis neither starts again against the stable nor, once it is read again, starts
    again against the baseline (two restarts, the evidence thrown away twice); that
    interval is passed over."""
    loop, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    flaky = _Unreadable(["n1"], clock.now())
    flaky.__dict__.update(cluster.__dict__)
    loop.cluster = flaky
    add_baseline(loop, flaky)
    run_until_final(loop, clock, minutes=3)
    (analysis,) = loop.analyses.values()
    assert analysis.compared == BASELINE and len(analysis.history) == 3
    started = analysis.started_at
    flaky.unreadable = {BASELINE}
    clock.advance(60)
    loop.cycle()
    (analysis,) = loop.analyses.values()
    assert analysis.compared == BASELINE and analysis.started_at == started
    assert len(analysis.history) == 3 and not analysis.ended
    flaky.unreadable = set()
    clock.advance(60)
    loop.cycle()
    (again,) = loop.analyses.values()
    assert again is analysis and again.compared == BASELINE and again.started_at == started
    assert len(again.history) > 3
