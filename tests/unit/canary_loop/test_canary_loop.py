"""The daemon's canary loop: native canaries, and the Argo Rollouts / Flagger endpoints."""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from agent.adapters.slack_blocks import escalation_blocks, question_blocks, report_blocks
from agent.approvals import Approvals, LedgerOnlyChannel
from agent.cli.explain_cmd import render
from agent.clock import FakeClock
from agent.decisions import DecisionService
from agent.errors import TransientError
from agent.ledger import Ledger, open_ledger
from agent.loops.canary import CANARY_OF, CanaryLoop, Side
from agent.observability import Metrics
from agent.server import Request
from agent.settings import CanarySettings, RoutingSettings
from agent.sim.cluster import SimCluster, SimWorkload, Template
from agent.sim.metrics import SimMetrics
from remediation.loading import load_paths
from remediation.ports import ObjectRef
from remediation.schema import PromoteCanaryAction, Runbook
from remediation.signals import Signal
from tests.unit.test_canary_route import approved_rollback

STABLE = ObjectRef("Deployment", "search", "shop")
CANARY = ObjectRef("Deployment", "search-canary", "shop")
PROMOTE_CANARY = "autonomic.dev/promote-canary"  # canary-promote's opt-in
SEL = '{namespace="$namespace",deployment="$workload"}'


def shipped_runbooks() -> list[Runbook]:
    """The runbooks shipped in runbooks/, as the daemon loads them."""
    return load_paths([Path(__file__).parents[3] / "runbooks"])


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def rig(
    ledger: Ledger,
    canary_slowdown: float,
    latency_critical: bool = True,
    *,
    mode: Literal["observe", "propose", "act"] = "act",
    canary_labels: dict[str, str] | None = None,
    latency_dry_run: bool = False,
) -> tuple[CanaryLoop, list[Signal], FakeClock, SimCluster]:
    clock = FakeClock(1_700_000_000)
    cluster = SimCluster(["n1"], clock.now())
    labels = {"autonomic.dev/enabled": "true"}
    cluster.add_workload(
        SimWorkload(STABLE, 4, {1: Template("search:3")}, 1, 80, 30, labels=labels)
    )
    canary_labels = {**labels, CANARY_OF: "search", **(canary_labels or {})}
    cluster.add_workload(
        SimWorkload(CANARY, 1, {1: Template("search:4")}, 1, 80, 30, labels=canary_labels)
    )
    metrics = SimMetrics()
    rng = random.Random(5)
    for minute in range(120):  # two hours of per-minute series for both tracks
        at = clock.now() + 60 * minute
        for ref, factor in ((STABLE, 1.0), (CANARY, canary_slowdown)):
            labels_ = {"namespace": "shop", "deployment": ref.name}
            metrics.record("lat", labels_, at, 100 * factor * rng.lognormvariate(0, 0.05))
            metrics.record("req", labels_, at, 600.0)
            metrics.record("err", labels_, at, float(rng.random() < 0.3))
    spec = CanarySettings().spec
    spec["metrics"]["latency_p99"]["critical"] = latency_critical
    if latency_dry_run:
        spec["metrics"]["latency_p99"]["dry_run"] = True
    settings = CanarySettings(
        spec=spec,
        queries={"latency_p99": "lat" + SEL, "errors": "err" + SEL, "requests": "req" + SEL},
    )
    approvals = Approvals(ledger, LedgerOnlyChannel(ledger, clock.now), ttl=900, snooze=900)
    decisions = DecisionService(
        ledger, clock, RoutingSettings(), mode=mode, approvals=approvals, metrics=Metrics()
    )
    signals: list[Signal] = []
    loop = CanaryLoop(
        settings,
        reader=metrics,
        cluster=cluster,
        decisions=decisions,
        clock=clock,
        submit=signals.extend,
        events=lambda ref, reason, message, warning: cluster.post_event(
            ref, reason, message, warning=warning
        ),
    )
    return loop, signals, clock, cluster


def verdict_events(cluster: SimCluster) -> list[tuple[str, str, str, bool]]:
    return [(e.target, e.reason, e.message, e.warning) for e in cluster.events]


def run_until_final(loop: CanaryLoop, clock: FakeClock, minutes: int = 90) -> None:
    for _ in range(minutes):
        clock.advance(60)
        loop.cycle()


def test_a_slow_canary_is_rolled_back_through_the_runbooks(ledger: Ledger) -> None:
    loop, signals, clock, cluster = rig(ledger, canary_slowdown=1.5)
    run_until_final(loop, clock)
    (signal,) = signals
    assert signal.kind == "canary" and signal.name == "rollback" and signal.target == CANARY
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "rollback" and decision.route == "auto"
    assert decision.status == "done"
    assert signal.evidence["verdict_decision"] == decision.id  # the runbook's names it
    ((target, reason, message, warning),) = verdict_events(cluster)
    assert (target, reason, warning) == (str(CANARY), "CanaryRollback", True)
    assert decision.id in message and "routed auto" in message
    flagger = loop.flagger(
        Request(
            "POST",
            "/canary/flagger",
            {},
            {},
            json.dumps(
                {"name": "search-canary", "namespace": "shop", "phase": "Progressing"}
            ).encode(),
        )
    )
    assert flagger.status == 409
    argo = loop.argo(
        Request(
            "GET", "/canary/verdict", {"namespace": ["shop"], "canary": ["search-canary"]}, {}, b""
        )
    )
    body = json.loads(argo.body)
    assert argo.status == 200 and body["verdict"] == "rollback" and body["confidence"] > 0.9


def test_a_healthy_canary_is_promoted_and_flagger_may_promote(ledger: Ledger) -> None:
    loop, signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    before = loop.flagger(
        Request(
            "POST",
            "/canary/flagger",
            {},
            {},
            b'{"name": "search-canary", "namespace": "shop", "phase": "Promoting"}',
        )
    )
    assert before.status == 425  # nothing judged yet: a promotion waits
    run_until_final(loop, clock)
    analysis = next(iter(loop.analyses.values()))
    assert analysis.latest is not None and analysis.latest.decision.value == "promote"
    assert not any(s.name == "rollback" for s in signals)
    ((target, reason, _, warning),) = verdict_events(cluster)
    assert (target, reason, warning) == (str(CANARY), "CanaryPromote", False)
    confirm = loop.flagger(
        Request(
            "POST",
            "/canary/flagger",
            {},
            {},
            b'{"name": "search-canary", "namespace": "shop",'
            b' "metadata": {"type": "confirm-promotion"}}',
        )
    )
    # The promotion's confidence (about 0.67-0.76) is between the canary's ask (0.5) and
    # automatic (0.9) thresholds: it waits for a person's approval.
    assert confirm.status == 425
    body = json.loads(confirm.body)
    assert body["judge_verdict"] == "promote" and body["decision_status"] == "asked"
    assert not math.isnan(body["confidence"])


def test_endpoints_reject_malformed_requests(ledger: Ledger) -> None:
    loop, _, _, _ = rig(ledger, canary_slowdown=1.0)
    assert loop.flagger(Request("POST", "/canary/flagger", {}, {}, b"not json")).status == 400
    assert loop.flagger(Request("POST", "/canary/flagger", {}, {}, b'{"name": 1}')).status == 400
    for body in (b"[" * 100_000, b'{"name": 1, "namespace": "shop"}', b"[]", b"1" * 5000):
        # Deep nesting, a non-string name, the wrong shape, a huge number: Flagger reads a
        # 5xx as a failed check, so each must be a 400, never a 500.
        assert loop.flagger(Request("POST", "/canary/flagger", {}, {}, body)).status == 400
    assert loop.argo(Request("GET", "/canary/verdict", {}, {}, b"")).status == 400


def test_an_old_sample_is_not_judged(ledger: Ledger) -> None:
    """A stuck Prometheus or a caching proxy answers with the same old sample: the canary
    is not judged on it (the interval is missing), however long it goes on."""
    loop, _, clock, _ = rig(ledger, canary_slowdown=1.0)
    clock.advance(60)
    assert all(
        math.isfinite(v) for v in loop._read(Side(CANARY, CANARY.name), clock.now()).values()
    )
    loop.reader.stale_after = 10 * 3600.0  # type: ignore[attr-defined]  # the proxy keeps answering
    later = clock.now() + 130 * 60  # 10 minutes past the last recorded sample
    assert all(math.isnan(v) for v in loop._read(Side(CANARY, CANARY.name), later).values())


def argo_answer(loop: CanaryLoop) -> dict[str, object]:
    response = loop.argo(
        Request(
            "GET", "/canary/verdict", {"namespace": ["shop"], "canary": ["search-canary"]}, {}, b""
        )
    )
    assert response.status == 200
    body: dict[str, object] = json.loads(response.body)
    return body


def test_a_canary_pointed_at_another_stable_is_judged_against_it_afresh(ledger: Ledger) -> None:
    loop, _, clock, cluster = rig(ledger, canary_slowdown=1.0)
    other = ObjectRef("Deployment", "search-eu", "shop")
    cluster.add_workload(SimWorkload(other, 2, {1: Template("search:2")}, 1, 80, 30))
    run_until_final(loop, clock, minutes=3)
    cluster._workload_for(CANARY).labels[CANARY_OF] = "search-eu"
    run_until_final(loop, clock, minutes=1)
    (analysis,) = loop.analyses.values()
    assert analysis.baseline == other and len(analysis.history) == 1


def test_a_stable_rolled_out_during_the_analysis_starts_it_again(ledger: Ledger) -> None:
    """Intervals against the stable's old release and its new one are not one comparison."""
    loop, _, clock, cluster = rig(ledger, canary_slowdown=1.0)
    run_until_final(loop, clock, minutes=5)
    cluster.roll_out(STABLE, "search:3.1")
    run_until_final(loop, clock, minutes=1)
    (analysis,) = loop.analyses.values()
    assert analysis.baseline_images == ("search:3.1",) and len(analysis.history) == 1


def test_a_recreated_canary_is_not_answered_with_an_earlier_revisions_verdict(
    ledger: Ledger,
) -> None:
    """Revision 2 was rolled back; the canary Deployment is deleted and created again with
    a new release (revision 1 again): the endpoints answer for the new one."""
    loop, _, clock, cluster = rig(ledger, canary_slowdown=1.5)
    cluster.roll_out(CANARY, "search:5")
    run_until_final(loop, clock)
    assert argo_answer(loop)["verdict"] == "rollback"
    cluster.remove_workload(CANARY)
    labels = {"autonomic.dev/enabled": "true", CANARY_OF: "search"}
    cluster.add_workload(
        SimWorkload(CANARY, 1, {1: Template("search:6")}, 1, 80, 30, labels=labels)
    )
    run_until_final(loop, clock, minutes=1)
    body = argo_answer(loop)
    assert body["verdict"] == "continue" and body["decision_id"] is None


@pytest.mark.parametrize(
    ("stable", "why"),
    [("search-old", "search-old (named by autonomic.dev/canary-of) does not exist"),
     ("search-canary", "names the canary itself")],
)  # fmt: skip
def test_a_canary_without_a_stable_to_compare_is_not_judged_and_says_why(
    ledger: Ledger, stable: str, why: str
) -> None:
    """No verdict after an hour of "no data": the canary is not judged, and the answer
    says why from the first cycle."""
    loop, _, clock, cluster = rig(ledger, canary_slowdown=1.0)
    run_until_final(loop, clock, minutes=3)
    cluster._workload_for(CANARY).labels[CANARY_OF] = stable
    run_until_final(loop, clock)
    assert all(a.ended for a in loop.analyses.values())
    assert ledger.decisions(kind="canary") == []
    body = argo_answer(loop)
    assert body["verdict"] == "continue" and why in str(body["reason"])


def test_a_canary_no_longer_labelled_ends_its_analysis(ledger: Ledger) -> None:
    loop, _, clock, cluster = rig(ledger, canary_slowdown=1.0)
    run_until_final(loop, clock, minutes=3)
    del cluster._workload_for(CANARY).labels[CANARY_OF]
    run_until_final(loop, clock, minutes=1)
    (analysis,) = loop.analyses.values()
    assert analysis.ended and loop.current == {}
    assert "no longer labelled" in loop.errors[str(CANARY)]
    # No longer a canary Autonomic judges: the delivery tool is told so (404), not
    # "continue" for ever.
    response = loop.argo(
        Request(
            "GET", "/canary/verdict", {"namespace": ["shop"], "canary": ["search-canary"]}, {}, b""
        )
    )
    assert response.status == 404
    assert "has no autonomic.dev/canary-of label" in json.loads(response.body)["error"]
    cluster._workload_for(CANARY).labels[CANARY_OF] = "search"  # back: judged afresh
    run_until_final(loop, clock, minutes=1)
    (again,) = loop.analyses.values()
    assert again is not analysis and len(again.history) == 1


def test_a_query_returning_several_series_is_named_not_judged_as_no_data(
    ledger: Ledger,
) -> None:
    """A canary query not aggregated (one series per pod) is no data every interval; the
    answer used to say only "no paired data yet" for the whole analysis."""
    loop, _, clock, _ = rig(ledger, canary_slowdown=1.0)
    metrics = loop.reader
    for minute in range(120):
        at = clock.now() + 60 * minute
        labels = {"namespace": "shop", "deployment": "search-canary", "pod": "b"}
        metrics.record("lat", labels, at, 100.0)  # type: ignore[attr-defined]
    run_until_final(loop, clock, minutes=3)
    body = argo_answer(loop)
    assert body["verdict"] == "continue"
    assert "'latency_p99' query for Deployment/shop/search-canary returned 2 series" in str(
        body["note"]
    )


class _Stored:
    """The rig's metrics, with a source that tells when it last stored a sample."""

    def __init__(self, inner: SimMetrics, newest: float) -> None:
        self.inner = inner
        self.newest: float | None = newest

    def range(self, query: str, start: float, end: float, step: float, now: float) -> Any:
        return self.inner.range(query, start, end, step, now)

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        return self.inner.instant(query, at)

    def newest_sample(self) -> float | None:
        return self.newest


def test_no_interval_is_judged_while_prometheus_stores_nothing_new(ledger: Ledger) -> None:
    """A Prometheus that stopped taking samples still answers a gauge with its last value
    for five minutes, stamped as current: each repeat must not count as evidence."""
    loop, signals, clock, _cluster = rig(ledger, canary_slowdown=1.5)
    stored = _Stored(loop.reader, clock.now())  # type: ignore[arg-type]
    loop.reader = stored
    for _ in range(30):  # a clear regression, but every answer is old
        clock.advance(60)
        stored.newest = clock.now() - 40  # fresh: within two periods
        loop.cycle()
        if loop.analyses:
            break
    (analysis,) = loop.analyses.values()
    judged = len(analysis.history)
    assert judged == 1
    stored.newest = clock.now() - 150  # older than two periods, and older every cycle
    for _ in range(30):
        clock.advance(60)
        loop.cycle()
    assert len(analysis.history) == judged  # held: not one interval more
    assert not signals and not ledger.decisions(kind="canary")
    answer = json.loads(
        loop.argo(
            Request(
                "GET",
                "/canary/verdict",
                {"namespace": ["shop"], "canary": ["search-canary"]},
                {},
                b"",
            )
        ).body
    )
    assert answer["verdict"] == "continue"
    assert "Prometheus has stored no new sample since 2023-11-14 22:11:50 UTC" in answer["note"]
    stored.newest = None  # the source cannot tell: judged on the queries alone, as before
    run_until_final(loop, clock, minutes=30)
    assert [s.name for s in signals] == ["rollback"]


def test_a_verdict_in_slack_and_explain_names_the_releases_and_each_finding_whole(
    ledger: Ledger,
) -> None:
    """The question (or report) names the verdict, the release judged and the stable's,
    and every metric's finding with its numbers; `explain` shows each finding whole.
    Both used to cut the findings at 200 characters together, and named the proposal
    "change (baseline=..., revision=1, verdict=rollback)"."""
    loop, _signals, clock, _cluster = rig(ledger, canary_slowdown=1.5)
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    findings = list(decision.evidence["findings"].values())
    assert len(findings) == 2 and sum(len(f) for f in findings) > 200
    text = json.dumps(report_blocks(decision, "confident", cluster="prod"))
    assert (
        "canary verdict rollback for search:4 (baseline Deployment/shop/search on search:3)"
        " on Deployment/shop/search-canary" in text
    )
    for finding in findings:
        assert json.dumps(finding)[1:-1] in text
    story = render(ledger, decision.id)
    for finding in findings:
        assert f"\n    {finding}\n" in story


def test_a_verdict_records_each_metrics_numbers_and_the_queries_behind_them(
    ledger: Ledger,
) -> None:
    """The decision's evidence holds the numbers behind each finding and the queries
    they were read with (issue 5: "the numbers and the query behind them"); it used to
    hold only the findings' sentences. `explain` shows the queries, Slack does not."""
    loop, _signals, clock, _cluster = rig(ledger, canary_slowdown=1.5)
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    numbers = decision.evidence["metrics"]
    assert set(numbers) == set(decision.evidence["findings"]) == {"latency_p99", "errors"}
    latency = numbers["latency_p99"]
    assert latency["status"] == "regressed" and latency["scale"] == "relative"
    # A 1.5x slower canary: the estimate near +50 %, inside an interval wholly past the
    # 10 % tolerance (what "regressed" means).
    assert latency["tolerance"] < latency["lower"] <= latency["estimate"] <= latency["upper"]
    assert 0.4 < latency["estimate"] < 0.6 and latency["intervals"] >= 8
    queries = decision.evidence["queries"]
    assert queries["canary"]["latency_p99"] == ('lat{namespace="shop",deployment="search-canary"}')
    assert queries["baseline"]["requests"] == 'req{namespace="shop",deployment="search"}'
    story = render(ledger, decision.id)
    assert '\n    canary latency_p99: lat{namespace="shop",deployment="search-canary"}\n' in story
    text = json.dumps(report_blocks(decision, "confident", cluster="prod"))
    assert "search-canary" in text and "lat{" not in text
    assert "decided_after_seconds: " in text  # the evidence is listed, without these two:
    assert "metrics: " not in text and "queries: " not in text


def test_a_dry_run_metric_is_recorded_but_does_not_roll_the_canary_back(
    ledger: Ledger,
) -> None:
    """The same 1.5x slower canary as above, with latency_p99 dry_run: no rollback; the
    decision records the latency finding as a dry run, and the verdict says it."""
    loop, signals, clock, _cluster = rig(ledger, canary_slowdown=1.5, latency_dry_run=True)
    run_until_final(loop, clock)
    assert not any(s.name == "rollback" for s in signals)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "promote"
    latency = decision.evidence["metrics"]["latency_p99"]
    assert latency["status"] == "regressed" and latency["dry_run"] is True
    assert "dry_run" not in decision.evidence["metrics"]["errors"]
    assert decision.evidence["findings"]["latency_p99"].endswith(
        "(dry run: not counted in the verdict)."
    )
    assert " Dry run, not counted: latency_p99: canary +" in decision.reason


def test_an_inconclusive_verdict_is_escalated_not_asked(ledger: Ledger) -> None:
    """A non-critical metric regressing is for a person to settle by promoting or aborting
    the rollout. It used to be asked with Approve / Reject buttons that moved nothing
    (the endpoints held either way); it is escalated with the findings, and the reason
    says why, naming no runbook."""
    loop, signals, clock, _cluster = rig(ledger, canary_slowdown=1.5, latency_critical=False)
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "inconclusive"
    assert (decision.route, decision.status) == ("escalate", "escalated")
    assert ledger.questions() == []
    why = decision.evidence["routing"]["route_reason"]
    assert "a person promotes or aborts the rollout" in why and "runbook" not in why
    assert signals == []
    query = {"namespace": ["shop"], "canary": ["search-canary"]}
    body = json.loads(loop.argo(Request("GET", "/canary/verdict", query, {}, b"")).body)
    assert body["verdict"] == "inconclusive" and body["decision_status"] == "escalated"
    assert "a person promotes or aborts the rollout" in body["note"]
    blocks = escalation_blocks(decision, why, "oncall")
    assert "Escalation: canary verdict inconclusive for search:4" in json.dumps(blocks)
    assert not [b for b in blocks if b["type"] == "actions"]  # nothing to call the fix


class _Down:
    """The rig's metrics behind a Prometheus that can be down (every read refused)."""

    def __init__(self, inner: SimMetrics) -> None:
        self.inner = inner
        self.down = False
        self.failure = "connection refused"  # what a read raises while down

    def _check(self) -> None:
        if self.down:
            raise TransientError(f"Prometheus at http://127.0.0.1:9090: {self.failure}")

    def range(self, query: str, start: float, end: float, step: float, now: float) -> Any:
        self._check()
        return self.inner.range(query, start, end, step, now)

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float, float]]:
        self._check()
        return self.inner.instant(query, at)


def test_prometheus_down_for_half_an_hour_is_one_warning_and_one_line_when_back(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Every canary cycle Prometheus refused used to log the same warning again: thirty
    in half an hour, per canary. It is said once when it starts (the endpoints say it all along),
    and once when an interval is read again."""
    loop, _signals, clock, _cluster = rig(ledger, canary_slowdown=1.0)
    source = _Down(loop.reader)  # type: ignore[arg-type]
    loop.reader = source
    clock.advance(60)
    loop.cycle()
    assert loop.analyses
    source.down = True
    with caplog.at_level(logging.INFO, logger="autonomic.canary"):
        for i in range(30):
            # restarting: refused, then timing out, then refused again (one outage)
            source.failure = ("connection refused", "no answer within 10 s")[i // 5 % 2]
            clock.advance(60)
            loop.cycle()
        assert "no answer within 10 s" in loop.errors[str(CANARY)]  # the endpoints: the last
        source.down = False
        clock.advance(60)
        loop.cycle()
    said = [r.getMessage() for r in caplog.records if r.name == "autonomic.canary"]
    assert len(said) == 2, said
    assert "no interval this time" in said[0] and "connection refused" in said[0]
    assert "judged again" in said[1]
    assert str(CANARY) not in loop.errors


def test_weigh_persistence_in_the_config_reaches_the_judge(ledger: Ledger) -> None:
    loop, _, _, _ = rig(ledger, 1.0)
    assert loop._judge(None).settings.weigh_persistence is False
    loop.settings = CanarySettings.model_validate(
        {**loop.settings.model_dump(by_alias=True), "weighPersistence": True}
    )
    assert loop._judge(None).settings.weigh_persistence is True
    with pytest.raises(ValueError, match="weighPersistence"):
        CanarySettings.model_validate({"weighPersistence": "yes"})


@pytest.mark.parametrize(
    ("mode", "canary_labels", "said", "acts"),
    [
        (
            "act",
            {PROMOTE_CANARY: "true"},
            "If approved, runbook canary-promote promotes it without asking again: "
            "Deployment/shop/search takes the canary's images and the canary is scaled to 0",
            True,
        ),
        (
            "propose",
            {PROMOTE_CANARY: "true"},
            "If approved, runbook canary-promote promotes it without asking again: "
            "Deployment/shop/search takes the canary's images and the canary is scaled to 0",
            True,
        ),
        (
            "propose",
            {},
            "If approved, the verdict endpoints answer promote to the delivery tool that "
            "reads them; Autonomic changes nothing itself (the canary is not labelled "
            'autonomic.dev/promote-canary: "true")',
            False,
        ),
    ],
)
def test_a_promotions_question_says_what_approving_it_does(
    ledger: Ledger,
    mode: Literal["propose", "act"],
    canary_labels: dict[str, str],
    said: str,
    acts: bool,
) -> None:
    """The question about a promotion proposed "canary verdict promote for search:4" and
    its Approve button asked to "Run canary verdict promote ... on" the canary: nothing
    said whether a yes gives the stable the canary's images. The question now says
    which; in propose mode too, a yes to it is the yes propose mode asks for, so
    canary-promote does not ask again: the decision records that (``yes_acts``), which
    the runbook's routing reads, only where a runbook acts without asking again."""
    loop, _signals, clock, _cluster = rig(
        ledger, canary_slowdown=1.0, mode=mode, canary_labels=canary_labels
    )
    shipped = shipped_runbooks()
    loop.runbooks = lambda: shipped
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "promote" and decision.status == "asked"
    assert decision.evidence["yes_acts"] is acts
    (question,) = ledger.questions_for([decision.id])
    blocks = question_blocks(decision, question)
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert any(text.startswith(said) for text in texts)
    (approve,) = [
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("style") == "primary"
    ]
    assert approve["confirm"]["text"]["text"].startswith(said)
    shown = json.dumps([b for b in blocks if "Evidence" in json.dumps(b)])
    assert "if_approved" not in shown and "yes_acts" not in shown  # said by the line


def _changed(runbooks: list[Runbook], name: str, **spec: Any) -> list[Runbook]:
    """``runbooks`` with the one named ``name`` given ``spec`` (as an operator edits it)."""
    return [
        r.model_copy(update={"spec": r.spec.model_copy(update=spec)}) if r.name == name else r
        for r in runbooks
    ]


def _promotion_asked(ledger: Ledger, runbooks: list[Runbook] | None) -> str | None:
    """A promotion of a canary labelled for canary-promote, asked of a person (as every
    promotion is today), with ``runbooks`` loaded (None: none to read): its if_approved."""
    loop, _signals, clock, _cluster = rig(
        ledger, canary_slowdown=1.0, canary_labels={PROMOTE_CANARY: "true"}
    )
    loop.runbooks = None if runbooks is None else (lambda: runbooks)
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "promote" and decision.status == "asked"
    said = decision.evidence.get("if_approved")
    assert said is None or isinstance(said, str)
    return said


_LEFT_UP = [
    PromoteCanaryAction.model_validate({"type": "promoteCanary", "scaleCanaryToZero": False})
]


@pytest.mark.parametrize(
    ("loaded", "said"),
    [
        (
            lambda shipped: [r for r in shipped if r.name != "canary-promote"],
            "the verdict endpoints answer promote to the delivery tool that reads them; "
            "Autonomic changes nothing itself (no loaded runbook takes up a promotion of "
            "Deployment/shop/search-canary)",
        ),
        (
            lambda shipped: _changed(shipped, "canary-promote", mode="shadow"),
            "runbook canary-promote records what it would do and writes nothing (mode: "
            "shadow); the verdict endpoints answer promote",
        ),
        (
            lambda shipped: _changed(shipped, "canary-promote", max_autonomy="ask"),
            "runbook canary-promote asks once more (its maxAutonomy is ask), then promotes "
            "it: Deployment/shop/search takes the canary's images and the canary is scaled "
            "to 0; the verdict endpoints answer promote",
        ),
        (
            lambda shipped: _changed(shipped, "canary-promote", actions=_LEFT_UP),
            "runbook canary-promote promotes it without asking again: Deployment/shop/search "
            "takes the canary's images and the canary is left as it is; the verdict "
            "endpoints answer promote",
        ),
    ],
    ids=["removed", "shadow", "asks", "canary-left-up"],
)
def test_a_promotions_question_follows_the_loaded_runbooks(
    ledger: Ledger, loaded: Any, said: str
) -> None:
    """A promotion's line said canary-promote promotes the canary without asking again
    whatever runbooks were loaded: with canary-promote removed, in shadow or capped at
    ask, a yes was promised a write that would not happen, or not without a second
    question. It is now read from the loaded runbooks, as a rollback's is."""
    assert _promotion_asked(ledger, loaded(shipped_runbooks())) == said


def test_a_promotions_question_says_nothing_without_runbooks_to_read(ledger: Ledger) -> None:
    """Where the runbooks cannot be read, what a yes to a native canary's promotion does
    is not known, so its question does not guess (as a rollback's)."""
    assert _promotion_asked(ledger, None) is None


def _rollback_asked(ledger: Ledger, canary_labels: dict[str, str] | None = None) -> str | None:
    """A rollback verdict routed to a person (its type's automatic threshold raised past
    the judge's confidence), with the shipped runbooks loaded: its if_approved."""
    loop, _signals, clock, _cluster = rig(ledger, canary_slowdown=1.5, canary_labels=canary_labels)
    ledger.record_thresholds("canary/rollback", 0.9999, 0.5, {}, clock.now())
    shipped = shipped_runbooks()
    loop.runbooks = lambda: shipped
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "rollback" and decision.status == "asked"
    said = decision.evidence.get("if_approved")
    assert said is None or isinstance(said, str)
    return said


def test_a_rollbacks_question_says_what_approving_it_does(ledger: Ledger) -> None:
    """A promotion's question said what a yes does; a rollback's did not. It now names
    the loaded runbook that takes up the approved rollback, and what it writes."""
    said = _rollback_asked(ledger)
    assert said == (
        "runbook canary-rollback rolls Deployment/shop/search-canary back to its previous "
        "revision without asking again; the verdict endpoints answer rollback"
    )
    (question,) = ledger.questions_for([ledger.decisions(kind="canary")[0].id])
    blocks = question_blocks(ledger.decisions(kind="canary")[0], question)
    assert any(b.get("text", {}).get("text") == f"If approved, {said}." for b in blocks)


def test_a_rollback_no_runbook_takes_up_says_so(ledger: Ledger) -> None:
    """Only what is true: a canary canary-rollback does not select (opted out) is rolled
    back by nothing Autonomic runs, and its question says so."""
    said = _rollback_asked(ledger, {"autonomic.dev/exclude": "true"})
    assert said == (
        "the verdict endpoints answer rollback to the delivery tool that reads them; "
        "Autonomic changes nothing itself (no loaded runbook takes up a rollback of "
        "Deployment/shop/search-canary)"
    )


def test_a_rollbacks_question_reads_the_runbooks_at_the_confidence_a_yes_sends(
    ledger: Ledger,
) -> None:
    """An approved verdict is sent to the runbooks with the judge's confidence or 0.99,
    whichever is more (a rollback's is 0.9949 or more). Its question read the runbooks
    with a signal at 0.99: with canary-rollback's ``minConfidence`` at 0.995, a rollback
    judged at 0.996 was said to be taken up by no runbook, and the yes then started
    canary-rollback, which the person had been told would not happen."""
    loop, signals, clock, _cluster = rig(ledger, canary_slowdown=1.5)
    ledger.record_thresholds("canary/rollback", 0.9999, 0.5, {}, clock.now())
    shipped = shipped_runbooks()
    (rollback,) = [r for r in shipped if r.name == "canary-rollback"]
    stricter = [t.model_copy(update={"min_confidence": 0.995}) for t in rollback.spec.triggers]
    loaded = _changed(shipped, "canary-rollback", triggers=stricter)
    loop.runbooks = lambda: loaded
    run_until_final(loop, clock)
    (decision,) = ledger.decisions(kind="canary")
    assert decision.status == "asked" and decision.confidence >= 0.995
    assert decision.evidence.get("if_approved") == (
        "runbook canary-rollback rolls Deployment/shop/search-canary back to its previous "
        "revision without asking again; the verdict endpoints answer rollback"
    )
    assert ledger.transition(decision.id, ["asked"], "approved", clock.now())
    clock.advance(60)
    loop.cycle()
    (signal,) = signals
    assert signal.confidence >= 0.995  # what the question read: canary-rollback takes it


def test_an_approved_verdict_is_sent_with_the_judges_confidence_not_its_track_records(
    ledger: Ledger,
) -> None:
    """Four wrong rollbacks of this canary before: the decision's confidence (the judge's
    0.996 weighed by that record) is about 0.5, and the verdict is asked. Its question
    read the runbooks at the judge's confidence, and said canary-rollback (its
    ``minConfidence`` at 0.995) takes the yes up; the yes was then sent at 0.99 (the
    decision's confidence raised to 0.99), which canary-rollback does not take. A
    runbook's thresholds are on the scale the judge states (the record is the runbook's
    routing's to weigh): the yes is sent with the judge's confidence, as asked."""
    loop, signals, clock, _cluster = rig(ledger, canary_slowdown=1.5)
    for i in range(4):
        wrong = approved_rollback(STABLE, revision=0, images=[f"search:{i}"])
        loop.decisions.record_outcome(
            ledger.record_decision(wrong, clock.now() - 86400 + i), right=False, status="failed"
        )
    shipped = shipped_runbooks()
    (rollback,) = [r for r in shipped if r.name == "canary-rollback"]
    stricter = [t.model_copy(update={"min_confidence": 0.995}) for t in rollback.spec.triggers]
    loaded = _changed(shipped, "canary-rollback", triggers=stricter)
    loop.runbooks = lambda: loaded
    run_until_final(loop, clock)
    (decision,) = [d for d in ledger.decisions(kind="canary") if d.status == "asked"]
    assert decision.confidence < 0.9 <= decision.evidence["routing"]["signal_confidence"]
    assert str(decision.evidence.get("if_approved")).startswith("runbook canary-rollback rolls")
    assert ledger.transition(decision.id, ["asked"], "approved", clock.now())
    clock.advance(60)
    loop.cycle()
    (signal,) = signals
    assert signal.confidence == decision.evidence["routing"]["signal_confidence"]
