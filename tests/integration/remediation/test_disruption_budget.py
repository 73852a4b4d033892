"""The hourly disruption budget over the real adapter and the fake API server: a drain
evicts within it round by round and goes on in a later hour; the count survives a
restart (it is in the ledger's guard state); a restart a budget cannot take is handed to
a person once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agent.ledger import is_hold
from remediation.guards import GlobalLimits
from tests.integration.remediation.rig import RUNBOOKS, KubeRig, build_rig, seed_nodes, seed_web

NODE = "node-3"


def _drain_runbook(tmp_path: Path) -> Path:
    """The shipped drain runbook with a 2h timeout, so one drain spans two budget hours."""
    text = (RUNBOOKS / "node-notready-drain.yaml").read_text()
    assert "timeout: 10m" in text
    path = tmp_path / "node-notready-drain.yaml"
    path.write_text(text.replace("timeout: 10m", "timeout: 2h"))
    return path


def _evictions(rig: KubeRig) -> int:
    return sum(Counter(w.name for w in rig.writes() if w.resource == "pods/eviction").values())


def _drain_intent_result(rig: KubeRig) -> dict:
    (intent,) = [i for i in rig.ledger.intents() if i.operation["op"] == "drain"]
    return dict(intent.result or {})


def test_a_drain_of_40_pods_under_a_budget_of_10_stops_at_10_and_goes_on_an_hour_later(
    tmp_path: Path,
) -> None:
    rig = build_rig(
        tmp_path,
        runbooks=(_drain_runbook(tmp_path),),
        limits=GlobalLimits(max_pods_disrupted_per_hour=10),
    )
    try:
        seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360})
        seed_web(rig, replicas=40, nodes=(NODE,))
        decided = [h for h in rig.cycle() if h.outcome == "decided"]
        assert [h.runbook for h in decided] == ["node-notready-drain"]
        assert rig.approve_pending() == 1
        rig.run(30)  # the first round: 10 evicted, 30 waiting for room
        assert _evictions(rig) == 10
        result = _drain_intent_result(rig)
        assert len(result["drain"]["waiting"]) == 30
        assert "30 waiting for room in the disruption budget" in result["summary"]
        rig.run(50 * 60, step=300)  # the hour is not over: nothing more
        assert _evictions(rig) == 10
        rig.run(15 * 60, step=300)  # the first 10 left the hour: 10 more
        assert _evictions(rig) == 20
        state, _ = rig.engine.guard_state()
        assert sum(r.pods for r in state.disrupted) == 20
        assert {r.runbook for r in state.disrupted} == {"node-notready-drain"}
    finally:
        rig.close()


def test_the_count_survives_a_restart_and_a_restart_over_budget_is_handed_off_once(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    limits = GlobalLimits(max_pods_disrupted_per_hour=10)
    crashloop = RUNBOOKS / "crashloop-after-rollout-rollback.yaml"
    first = build_rig(tmp_path, runbooks=(crashloop,), limits=limits, ledger_path=ledger)
    try:
        seed_nodes(first, 3)
        seed_web(first, replicas=6, behaviour="CrashLoopBackOff")
        first.cycle()
        first.approve_pending()
        first.run(30)
        state, _ = first.engine.guard_state()
        assert sum(r.pods for r in state.disrupted) == 6  # the rollback replaced 6 pods
        server = first.server
    finally:
        first.cluster.stop()
        first.api_client.close()
        first.decisions.approvals.dispatcher.stop()
        first.ledger.close()
    # A new process on the same ledger (and cluster): the 6 pods are still counted.
    second = build_rig(
        tmp_path,
        runbooks=(crashloop,),
        limits=limits,
        ledger_path=ledger,
        server=server,
        start=first.clock.now() + 60,
    )
    try:
        state, _ = second.engine.guard_state()
        assert sum(r.pods for r in state.disrupted) == 6
        seed_web(second, name="api", replicas=5, behaviour="CrashLoopBackOff")
        denied = [h for h in second.cycle() if h.reason_code == "DisruptionBudget"]
        assert {h.subject for h in denied} == {"Deployment/shop/api"}  # one per pod signal
        assert denied[0].message.startswith(
            "6 pods disrupted in the last hour across all runbooks (budget 10 an hour); "
            "the plan disrupts 5 pods; room comes back in "
        )
        second.run(120)  # asked again each cycle: still one hand-off
        holds = [
            d
            for d in second.ledger.decisions(kind="remediation", limit=100)
            if is_hold(d.decision_type) and d.reason_code == "DisruptionBudget"
        ]
        assert len(holds) == 1
        assert holds[0].subject == "Deployment/shop/api"
        assert "raise safety.maxPodsDisruptedPerHour only if" in holds[0].reason
    finally:
        second.close()
