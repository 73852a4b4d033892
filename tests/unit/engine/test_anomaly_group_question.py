"""A runbook started by an anomaly on a workload where other anomalies are open asks a
question that says what else moved, and which moved first: the anomaly loop's signal
carries the group to the engine, whose decision reason (the question's text) names it."""

from __future__ import annotations

from pathlib import Path

from agent.adapters.slack_blocks import question_text
from agent.loops.anomaly import AnomalyLoop
from agent.settings import AnomalyQuery
from tests.unit.anomaly.test_anomaly_groups import Workloads
from tests.unit.engine.harness import WEB, rig, web


def test_the_question_of_a_runbook_an_anomaly_started_names_the_rest_of_its_group(
    tmp_path: Path,
) -> None:
    # a spike's calibrated confidence (at most 0.647 on NAB) times a new runbook's 0.75:
    # about 0.49, which asks at 0.4
    r = rig(tmp_path, auto=0.999, ask=0.4)
    r.sim.add_workload(web(4))
    r.run(60)
    r.sim.roll_out(WEB, "shop/web:2")
    r.engine.query = lambda text: 12.5  # requests per second: real traffic
    reader = Workloads()
    loop = AnomalyLoop(
        [
            AnomalyQuery(name=name, expr=name, step=60, history=3 * 3600)
            for name in ("latency_p99", "http_error_ratio")
        ],
        reader=reader,
        ledger=r.ledger,
        decisions=r.decisions,
        submit=r.engine.submit,
        clock=r.clock,
    )
    loop.cycle()  # the history
    start = r.clock.now() - r.clock.now() % 60
    reader.spikes = {
        ("latency_p99", "web"): (start + 60, 3),
        ("http_error_ratio", "web"): (start + 120, 3),
    }
    for _ in range(2):
        r.clock.advance(60)
        loop.cycle()
    handled = [h for h in r.engine.cycle() if h.runbook == "error-rate-pause-rollout"]
    (started,) = [h for h in handled if h.outcome == "decided"]
    assert started.decision_id is not None
    decision = r.ledger.get_decision(started.decision_id)
    assert decision is not None and decision.route == "ask", decision
    assert r.ledger.questions_for([decision.id])  # a person is asked
    said = question_text(decision)
    assert (
        "2 of 2 series watched on Deployment/shop/web moved together: latency_p99 spike "
        "since " in said
    ), said
    assert said.index("latency_p99 spike since") < said.index("the first to move, then ")
    assert "then http_error_ratio spike since " in said
    assert decision.evidence["signal"]["group_summary"] in decision.reason
