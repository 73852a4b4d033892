"""Per-workload load queries: ``scaling.loadQueries`` names queries, a workload picks one
with ``autonomic.dev/load-query`` (never PromQL from the annotation itself), and every
read of its load, the model fitted on it, the capacity learned from it and the evidence
of its decisions use that query; an unknown name holds the workload; a changed query
refits the model on the new metric's history."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pytest

from agent.clock import FakeClock
from agent.loops.scaling import (
    CAPACITY,
    HISTORY_SINCE,
    LOAD_QUERY,
    MIN_REPLICAS,
    STEP,
    WorkloadKnobs,
    read_knobs,
)
from agent.loops.sizing import CAPACITY_MIN
from agent.settings import ScalingSettings
from remediation.ports import HpaState, ObjectRef, WorkloadState
from tests.unit.scaling.fakes import WeekReader, loop_over, week_and_a_day, workload

DEFAULT = 'sum(rate(http_requests_total{namespace="$namespace",deployment="$workload"}[2m]))'
QUEUE = 'sum(rate(messages_consumed_total{namespace="$namespace",deployment="$workload"}[2m]))'
QUERIES = {"queue": QUEUE, "grpc": 'sum(rate(grpc_server_handled_total{pod=~"$workload-.*"}[1m]))'}


def resolved(template: str, name: str) -> str:
    return template.replace("$namespace", "shop").replace("$workload", name)


class TwoMetrics(WeekReader):
    """A reader with one series for the default query and another, a hundred times
    larger (messages, not requests), for any query of ``messages_consumed_total``."""

    def __init__(self, t: np.ndarray, values: np.ndarray) -> None:
        super().__init__(t, values)
        self.requests, self.messages = values, values * 100.0

    def range(self, query: str, start: float, end: float, step: float, now: float) -> list[Any]:
        self.values = self.messages if "messages_consumed_total" in query else self.requests
        return super().range(query, start, end, step, now)


def steady(seed: int) -> tuple[np.ndarray, np.ndarray]:
    t, values = week_and_a_day(seed)
    values = values.copy()
    values[-90:] = 50.0
    return t, values


def run(loop: Any, clock: FakeClock, cycles: int) -> None:
    for _ in range(cycles):
        loop.cycle()
        clock.advance(STEP)


def picks(web: WorkloadState, name: str | None) -> WorkloadState:
    annotations = {k: v for k, v in web.annotations.items() if k != LOAD_QUERY}
    if name is not None:
        annotations[LOAD_QUERY] = name
    return dataclasses.replace(web, annotations=annotations)


def test_the_named_queries_are_settings_and_the_annotation_picks_one_by_name() -> None:
    settings = ScalingSettings(loadQueries=QUERIES)
    assert settings.load_template(None) == DEFAULT
    assert settings.load_template("queue") == QUEUE
    assert settings.load_template("nope") is None
    knobs = read_knobs({CAPACITY: "20", LOAD_QUERY: "queue"}, settings.load_queries)
    assert knobs == WorkloadKnobs(20.0, load_query="queue")
    assert read_knobs({CAPACITY: "20"}, settings.load_queries) == WorkloadKnobs(20.0)


@pytest.mark.parametrize(
    ("configured", "value", "known"),
    [
        (QUERIES, "kafka", "the names configured are grpc, queue"),
        # PromQL in the annotation is a name like any other: not run, not configured
        (QUERIES, 'sum(rate(x{deployment="web"}[1m]))', "the names configured are grpc"),
        ({}, "queue", "none is configured"),
    ],
)
def test_an_unknown_load_query_name_is_named_not_guessed(
    configured: dict[str, str], value: str, known: str
) -> None:
    why = read_knobs({CAPACITY: "20", LOAD_QUERY: value}, configured)
    assert isinstance(why, str)
    assert f"{LOAD_QUERY}={value!r}" in why and "scaling.loadQueries" in why
    assert known in why and why.endswith("staying reactive")


def test_a_workload_is_read_with_the_query_it_picks_and_its_decision_says_which() -> None:
    t, values = steady(81)
    reader, clock = TwoMetrics(t, values), FakeClock(float(t[-80]))
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    worker = workload("worker", **{CAPACITY: "100000", MIN_REPLICAS: "7", LOAD_QUERY: "queue"})
    loop = loop_over(reader, clock, [web, worker], loadQueries=QUERIES)
    run(loop, clock, 3)
    web_query, worker_query = resolved(DEFAULT, "web"), resolved(QUEUE, "worker")
    assert sorted(set(reader.queries)) == sorted({web_query, worker_query})
    assert reader.queries.count(worker_query) == 3  # the first fit's read and two more
    decisions = cast(Any, loop.decisions)
    evidence = {p.subject: p.evidence for p in decisions.proposals}
    assert evidence[str(worker.ref)]["query"] == worker_query
    assert evidence[str(web.ref)]["query"] == web_query
    fitted = {v["series_key"]: v["params"]["query"] for v in decisions.ledger.model_versions}
    assert fitted == {str(web.ref): web_query, str(worker.ref): worker_query}
    assert loop.models[worker.ref].query == worker_query
    # the messages (a hundred times the requests) are what the worker's model learned
    worker_level = loop.models[worker.ref].recent.values[-1]
    assert worker_level == pytest.approx(100.0 * loop.models[web.ref].recent.values[-1])


def test_an_unknown_name_holds_the_workload_reads_nothing_and_logs_once_per_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t, values = steady(82)
    reader, clock = WeekReader(t, values), FakeClock(float(t[-80]))
    worker = workload("worker", **{LOAD_QUERY: "kafka"})
    loop = loop_over(reader, clock, [worker], loadQueries=QUERIES)
    with caplog.at_level(logging.WARNING, logger="autonomic.scaling"):
        run(loop, clock, 3)
        said = [r.getMessage() for r in caplog.records if LOAD_QUERY in r.getMessage()]
        assert len(said) == 1
        assert "'kafka'" in said[0] and "grpc, queue" in said[0]
        cast(Any, loop.cluster).workloads = [picks(worker, "rabbit")]  # another wrong one
        run(loop, clock, 3)
    said = [r.getMessage() for r in caplog.records if LOAD_QUERY in r.getMessage()]
    assert len(said) == 2 and "'rabbit'" in said[1]
    assert reader.reads == [] and str(worker.ref) not in loop.models
    assert loop.status.held_reason[str(worker.ref)] == "BadAnnotation"
    assert f"{LOAD_QUERY}='rabbit'" in loop.status.held[str(worker.ref)]
    cast(Any, loop.cluster).workloads = [picks(worker, "queue")]  # fixed
    run(loop, clock, 1)
    assert reader.queries == [resolved(QUEUE, "worker")]
    assert str(worker.ref) not in loop.status.held


def test_a_changed_query_refits_the_model_on_the_new_metrics_history() -> None:
    """A model fitted on requests would forecast requests for a workload now read in
    messages: a hundred times too few pods. The change refits it at once, on the new
    query's whole history, and the new model goes live without a contest."""
    t, values = steady(83)
    reader, clock = TwoMetrics(t, values), FakeClock(float(t[-80]))
    worker = workload("worker", **{CAPACITY: "100000"})
    loop = loop_over(reader, clock, [worker], loadQueries=QUERIES)
    run(loop, clock, 3)
    model = loop.models[worker.ref]
    versions = cast(Any, loop.decisions).ledger.model_versions
    assert [v["evaluation"]["trigger"] for v in versions] == ["FirstFit"]
    assert model.fitted is not None
    before = float(model.fitted.predict(1, levels=(80,)).mean[0])
    cast(Any, loop.cluster).workloads = [picks(worker, "queue")]
    now = clock.now()
    run(loop, clock, 1)
    assert [v["evaluation"]["trigger"] for v in versions] == ["FirstFit", "QueryChanged"]
    assert versions[-1]["status"] == "live"
    assert versions[-1]["params"]["query"] == resolved(QUEUE, "worker")
    assert reader.queries[-1] == resolved(QUEUE, "worker")
    assert reader.reads[-1] == (now - loop.keep, now)  # the whole history, not the minute
    assert model.query == resolved(QUEUE, "worker") and model.fitted is not None
    after = float(model.fitted.predict(1, levels=(80,)).mean[0])
    assert after == pytest.approx(100.0 * before, rel=0.05)
    run(loop, clock, 2)  # then re-anchored minute by minute, as any model
    assert len(versions) == 2
    assert reader.reads[-1][1] - reader.reads[-1][0] < 2 * STEP


def hpa_for(ref: ObjectRef, usage: float | None) -> HpaState:
    return HpaState(
        ObjectRef("HorizontalPodAutoscaler", ref.name, "shop"), ref, 2, 20, 3, 3, usage_ratio=usage
    )


def test_a_capacity_learned_with_another_query_is_learned_again() -> None:
    """A per-pod capacity is in its query's unit: 25 requests per second a pod says
    nothing of messages. Learned again after a change, in this process or the next."""
    t, values = steady(84)
    reader, clock = TwoMetrics(t, values), FakeClock(float(t[-85]))
    web = workload("worker", **{MIN_REPLICAS: "6"})
    web = dataclasses.replace(
        web, annotations={k: v for k, v in web.annotations.items() if k != CAPACITY}
    )
    loop = loop_over(reader, clock, [web], loadQueries=QUERIES)
    cast(Any, loop.cluster).hpas[web.ref] = hpa_for(web.ref, 0.8)
    run(loop, clock, CAPACITY_MIN + 1)
    assert str(web.ref) not in loop.status.held
    ledger = cast(Any, loop.decisions).ledger
    key = f"scaling/capacity/{web.ref}"
    saved, version = ledger.guards[key]
    assert saved["query"] == resolved(DEFAULT, "worker")
    # A record from before the query was kept with it: learned with loadQuery.
    ledger.guards[key] = ({k: v for k, v in saved.items() if k != "query"}, version)

    cast(Any, loop.cluster).workloads = [picks(web, "queue")]
    run(loop, clock, 1)
    assert "learning the per-pod capacity" in loop.status.held[str(web.ref)]

    restarted = loop_over(reader, clock, [picks(web, "queue")], loadQueries=QUERIES)
    cast(Any, restarted.cluster).hpas[web.ref] = hpa_for(web.ref, None)  # no reading yet
    cast(Any, restarted.decisions).ledger = ledger
    run(restarted, clock, 1)
    assert "learning the per-pod capacity" in restarted.status.held[str(web.ref)]
    same = loop_over(reader, clock, [web], loadQueries=QUERIES)  # the query it was learned with
    cast(Any, same.cluster).hpas[web.ref] = hpa_for(web.ref, None)
    cast(Any, same.decisions).ledger = ledger
    run(same, clock, 1)
    assert str(web.ref) not in same.status.held


def test_a_floor_whose_load_query_changed_before_its_judgement_gets_no_verdict() -> None:
    """Raised on requests, then read in messages (a hundred times as many): judged on
    the messages it would be "needed" whatever happened, and on a mix of the two
    neither verdict means anything. It is closed with no verdict, saying why."""
    t, values = week_and_a_day(85)
    values = values.copy()
    start = len(t) - 120
    values[start - 80 : start + 60] = 50.0  # five pods' worth at 10 a pod
    clock = FakeClock(float(t[start]))
    web = workload(
        "web", **{CAPACITY: "10", MIN_REPLICAS: "7", "autonomic.dev/startup-seconds": "60"}
    )
    loop = loop_over(TwoMetrics(t, values), clock, [web], route="auto", loadQueries=QUERIES)
    run(loop, clock, 1)
    decisions = cast(Any, loop.decisions)
    (operation,) = cast(Any, loop.executor).applied
    assert operation.replicas == 7
    assert decisions.ledger.records["d-1"].status == "verifying"
    landed = dataclasses.replace(web, replicas=7, ready_replicas=7, available_replicas=7)
    cast(Any, loop.cluster).workloads = [landed]
    run(loop, clock, 2)  # two samples in requests
    cast(Any, loop.cluster).workloads = [picks(landed, "queue")]
    run(loop, clock, 15)
    assert [f for f in decisions.ledger.feedback if f[0] == "d-1"] == [
        ("d-1", "verification", "unverified")
    ]
    assert decisions.ledger.records["d-1"].status == "done"
    (said,) = [text for d, text, final in decisions.progressed if d == "d-1" and final]
    assert "load query changed" in said and resolved(QUEUE, "web") in said


def test_a_floor_asked_on_one_query_and_approved_after_a_change_is_not_judged_on_the_new() -> None:
    """A question asked while the workload read requests, approved after its load-query
    turned to messages: the floor carried out was decided on requests. Before, its
    verification took the query the model read at the approval (messages), so the raise
    was judged on a metric a hundred times larger and read as needed ('right')."""
    t, values = week_and_a_day(86)
    values = values.copy()
    start = len(t) - 120
    values[start - 80 : start + 60] = 50.0  # five pods' worth at 10 a pod
    clock = FakeClock(float(t[start]))
    web = workload(
        "web", **{CAPACITY: "10", MIN_REPLICAS: "7", "autonomic.dev/startup-seconds": "60"}
    )
    loop = loop_over(TwoMetrics(t, values), clock, [web], loadQueries=QUERIES)
    run(loop, clock, 1)
    decisions = cast(Any, loop.decisions)
    asked = decisions.ledger.records["d-1"]
    assert asked.status == "asked" and asked.evidence["query"] == resolved(DEFAULT, "web")
    cast(Any, loop.cluster).workloads = [picks(web, "queue")]
    run(loop, clock, 1)  # refitted on messages; the question still open
    assert loop.models[web.ref].query == resolved(QUEUE, "web")
    asked.status = "approved"
    run(loop, clock, 1)
    (operation,) = cast(Any, loop.executor).applied
    assert operation.replicas == 7 and asked.status == "verifying"
    landed = dataclasses.replace(web, replicas=7, ready_replicas=7, available_replicas=7)
    cast(Any, loop.cluster).workloads = [picks(landed, "queue")]
    run(loop, clock, 15)
    assert [f for f in decisions.ledger.feedback if f[0] == "d-1"] == [
        ("d-1", "verification", "unverified")
    ]
    (said,) = [text for d, text, final in decisions.progressed if d == "d-1" and final]
    assert f"from {resolved(DEFAULT, 'web')} to {resolved(QUEUE, 'web')}" in said


def test_a_load_query_change_on_many_workloads_is_refitted_a_share_a_cycle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A mass edit of the annotation (a chart's new default) used to refit every
    workload in the same cycle: a week read and a fit each, unbudgeted, 7.6 s for 1,000
    against a 0.2 s cycle. At most ``CHANGE_REFITS_PER_CYCLE`` are refitted a cycle; the
    others are read, forecast and sized on their old query until their turn, never on a
    model of one metric fed the other's samples."""
    from agent.loops import scaling

    t, values = steady(87)
    reader, clock = TwoMetrics(t, values), FakeClock(float(t[-80]))
    fleet = [workload(f"w{i}", **{CAPACITY: "1000"}) for i in range(5)]
    loop = loop_over(reader, clock, fleet, loadQueries=QUERIES)
    run(loop, clock, 2)
    versions = cast(Any, loop.decisions).ledger.model_versions
    cast(Any, loop.cluster).workloads = [picks(w, "queue") for w in fleet]
    switched = []
    with (
        caplog.at_level(logging.INFO, logger="autonomic.scaling"),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(scaling, "CHANGE_REFITS_PER_CYCLE", 2)
        for _ in range(3):
            reader.queries.clear()
            run(loop, clock, 1)
            switched.append(sum(v["evaluation"]["trigger"] == "QueryChanged" for v in versions))
            for w in fleet:  # each read with the query its model was fitted on
                model = loop.models[w.ref]
                assert model.query is not None and model.query in reader.queries
                old = model.query == resolved(DEFAULT, w.ref.name)
                level = model.recent.values[-1]
                assert level == pytest.approx(values[-1] * (1.0 if old else 100.0))
                # and a breach on it is named by that query (None: requests_per_second)
                assert model.load_query == (None if old else "queue")
    assert switched == [2, 4, 5]
    waiting = [r.getMessage() for r in caplog.records if "wait for their refit" in r.getMessage()]
    assert len(waiting) == 2
    assert waiting[0].startswith(
        "scaling: 3 workloads wait for their refit (3 with a changed load query;"
    )
    assert all(m.query == resolved(QUEUE, ref.name) for ref, m in loop.models.items())


def test_workloads_whose_new_query_reads_nothing_do_not_keep_the_others_waiting() -> None:
    """A chart names the queue query on every workload, and the first two (in the
    listing's order) export no such metric: their refit reads nothing, each cycle. They
    took the cycle's whole budget of change refits again at every cycle, so the two after
    them, whose new query has data, waited on their old query for ever. A workload whose
    change refit could not read yields to those that wait: it is tried again once they
    have had their turn."""
    from agent.loops import scaling

    t, values = steady(89)
    reader, clock = TwoMetrics(t, values), FakeClock(float(t[-80]))
    fleet = [workload(f"w{i}", **{CAPACITY: "1000"}) for i in range(4)]
    loop = loop_over(reader, clock, fleet, loadQueries=QUERIES)
    run(loop, clock, 2)
    silent = {resolved(QUEUE, "w0"), resolved(QUEUE, "w1")}
    read = reader.range

    def queue_only_on_some(
        query: str, start: float, end: float, step: float, now: float
    ) -> list[Any]:
        return [] if query in silent else read(query, start, end, step, now)

    reader.range = queue_only_on_some  # type: ignore[method-assign]
    cast(Any, loop.cluster).workloads = [picks(w, "queue") for w in fleet]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scaling, "CHANGE_REFITS_PER_CYCLE", 2)
        run(loop, clock, 4)
    for w in fleet[2:]:  # refitted on the new query
        assert loop.models[w.ref].query == resolved(QUEUE, w.ref.name)
    for w in fleet[:2]:  # nothing to fit on: held, on the model they had
        assert loop.models[w.ref].query == resolved(DEFAULT, w.ref.name)
        assert loop.status.held_reason[str(w.ref)] == "NoLoadSeries"


def test_a_history_cut_on_many_workloads_shares_the_changed_refits_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A mass edit of ``autonomic.dev/history-since`` (a chart setting it on every
    workload) refitted all of them in one cycle, a week read and a fit each: only a
    load query change was budgeted. Both now share one budget,
    ``CHANGE_REFITS_PER_CYCLE`` a cycle: here 2, for three workloads that picked
    another query and three given a cut, with one more given both (one refit). The
    others keep their current model (its query, its cut) until their turn, and the log
    says how many wait, and why."""
    from agent.loops import scaling

    t, values = steady(88)
    reader, clock = TwoMetrics(t, values), FakeClock(float(t[-80]))
    fleet = [workload(f"w{i}", **{CAPACITY: "1000"}) for i in range(7)]
    loop = loop_over(reader, clock, fleet, loadQueries=QUERIES)
    run(loop, clock, 2)
    versions = cast(Any, loop.decisions).ledger.model_versions
    cut = clock.now() - 3 * 86_400.0
    since = datetime.fromtimestamp(cut, UTC).isoformat()

    def changed(w: WorkloadState, i: int) -> WorkloadState:
        w = picks(w, "queue") if i < 3 or i == 6 else w
        if i >= 3:
            w = dataclasses.replace(w, annotations={**w.annotations, HISTORY_SINCE: since})
        return w

    cast(Any, loop.cluster).workloads = [changed(w, i) for i, w in enumerate(fleet)]
    refitted = []
    with (
        caplog.at_level(logging.INFO, logger="autonomic.scaling"),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(scaling, "CHANGE_REFITS_PER_CYCLE", 2)
        for _ in range(5):
            run(loop, clock, 1)
            triggers = [v["evaluation"]["trigger"] for v in versions]
            refitted.append(sum(t in ("QueryChanged", "HistoryCut") for t in triggers))
            # A model's cut moves with its refit, never before: one waiting keeps its own.
            cuts = [loop.models[w.ref].history_since for w in fleet]
            assert set(cuts) <= {None, cut}
            assert cuts.count(cut) == triggers.count("HistoryCut")
    assert refitted == [2, 4, 6, 7, 7]
    assert all(loop.models[w.ref].history_since == cut for w in fleet[3:])
    waiting = [r.getMessage() for r in caplog.records if "wait for their refit" in r.getMessage()]
    assert len(waiting) == 3
    assert waiting[0].startswith(
        "scaling: 5 workloads wait for their refit (2 with a changed load query, 3 with a "
        "changed history-since; at most 2 a cycle)"
    )


QUEUE_RUNBOOK = """\
apiVersion: autonomic.dev/v1alpha1
kind: Runbook
metadata:
  name: backlog-scale-out
  description: Scale a queue consumer out when its messages outrun the forecast.
spec:
  mode: enforce
  triggers:
    - type: forecastBreach
      metric: queue
      minExcessRatio: 0.2
  target:
    kind: Deployment
  actions:
    - type: scale
      factor: 1.5
      maxReplicas: 30
  verification:
    checks:
      - type: kubernetes
        condition: podsReady
"""


def test_a_breach_is_named_by_the_load_query_that_read_it() -> None:
    """Both workloads' load jumps tenfold for minutes: each is a forecast breach. The
    worker's load is messages read with the named query ``queue``; its breach used to be
    named ``requests_per_second`` like any other, so the shipped runbook for HTTP
    traffic (traffic-surge-scale-out) took it up, and no runbook could be written for a
    queue's surge alone. Now it is named ``queue``: a runbook for that takes it, the
    shipped one does not; web's, on ``scaling.loadQuery``, is ``requests_per_second``
    as before."""
    from pathlib import Path

    from remediation.loading import load_paths, load_text
    from remediation.matching import matching_trigger

    t, values = steady(88)
    clock = FakeClock(float(t[-80]))
    values = values.copy()
    values[int(np.searchsorted(t, clock.now())) + 2 :] = 500.0  # ten times the 50
    reader = TwoMetrics(t, values)
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    worker = workload("worker", **{CAPACITY: "100000", MIN_REPLICAS: "7", LOAD_QUERY: "queue"})
    loop = loop_over(reader, clock, [web, worker], loadQueries=QUERIES)
    signals: list[Any] = []
    loop.submit = signals.extend
    run(loop, clock, 8)
    named = {(s.target, s.kind, s.name) for s in signals}
    assert named == {
        (web.ref, "forecastBreach", "requests_per_second"),
        (worker.ref, "forecastBreach", "queue"),
    }
    surge = next(s for s in signals if s.target == worker.ref)
    assert surge.describe().startswith(f"forecastBreach queue on {worker.ref}")
    (shipped,) = load_paths([Path(__file__).parents[3] / "runbooks/traffic-surge-scale-out.yaml"])
    (backlog,) = load_text(QUEUE_RUNBOOK)
    http = next(s for s in signals if s.target == web.ref)
    assert matching_trigger(shipped, surge) is None
    assert matching_trigger(backlog, surge) == 0
    assert matching_trigger(shipped, http) == 0
    assert matching_trigger(backlog, http) is None


def test_a_breach_follows_the_name_picked_when_its_query_reads_the_same() -> None:
    """A workload moved to a named query whose template is the one it was read with
    already (``http``, written as ``scaling.loadQuery`` is) needs no refit: the same
    metric. Its breaches are named by the name it picks now, ``http``, at once; before,
    they kept the old name (``requests_per_second``) until the next refit, up to
    ``refitEvery`` (6 h) later, so a runbook written for ``http`` missed them."""
    t, values = steady(89)
    clock = FakeClock(float(t[-80]))
    values = values.copy()
    values[int(np.searchsorted(t, clock.now())) + 4 :] = 500.0  # ten times the 50
    web = workload("web", **{CAPACITY: "1000", MIN_REPLICAS: "7"})
    loop = loop_over(TwoMetrics(t, values), clock, [web], loadQueries={**QUERIES, "http": DEFAULT})
    signals: list[Any] = []
    loop.submit = signals.extend
    run(loop, clock, 2)
    versions = cast(Any, loop.decisions).ledger.model_versions
    fits = len(versions)
    cast(Any, loop.cluster).workloads = [picks(web, "http")]
    run(loop, clock, 8)
    assert len(versions) == fits  # the same query: not fitted again
    assert {(s.kind, s.name) for s in signals} == {("forecastBreach", "http")}
    # and back on scaling.loadQuery, its breaches are requests_per_second again
    cast(Any, loop.cluster).workloads = [web]
    run(loop, clock, 1)
    assert loop.models[web.ref].load_query is None
