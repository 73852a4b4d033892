"""A drain's plan reads the PodDisruptionBudgets over the real adapter and the fake API
server (which writes their status as the disruption controller does): a budget that
would keep the drain from finishing is handed to a person, the node untouched; a
budget that cannot be read (403) is said, and the drain is planned as before."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.errors import TransientError
from agent.ids import short_id
from agent.remediation_engine import PDB_BLOCKS, RemediationEngine
from remediation.guards import BreakerState
from remediation.loading import load_paths
from tests.fakekube.seed import seed_pdb
from tests.integration.remediation.rig import (
    RUNBOOKS,
    KubeRig,
    cycle_failing_first_intent,
    seed_nodes,
    seed_web,
)

NODE = "node-3"
RUNBOOK = "node-notready-drain"


def _node_writes(rig: KubeRig) -> list[str]:
    return [w.resource for w in rig.writes() if w.resource in ("nodes", "pods/eviction")]


def test_a_budget_that_would_stall_the_drain_is_handed_to_a_person_and_nothing_is_done(
    rig: KubeRig,
) -> None:
    seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360})
    seed_web(rig, replicas=4, nodes=(NODE, "node-4"))
    seed_pdb(rig.server.store, "web", app="web", namespace="shop", min_available=4)
    handled = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert [(h.outcome, h.reason_code) for h in handled] == [("denied", PDB_BLOCKS)]
    assert "PodDisruptionBudget shop/web allows 0 disruptions (4 healthy, 4 desired, 4 " in (
        handled[0].message
    )
    assert rig.decisions_of(RUNBOOK) == []  # nothing asked, nothing to approve
    (held,) = [
        d for d in rig.ledger.decisions(kind="remediation") if d.decision_type == f"held/{RUNBOOK}"
    ]
    assert held.status == "escalated" and held.proposal["guard"] == PDB_BLOCKS
    (found,) = held.evidence["disruption_budgets"]["covering"]
    assert found["verdict"] == "blocks" and len(found["podsOnNode"]) == 2
    ((_, why),) = rig.channel.escalated
    assert why.startswith(f"{RUNBOOK} will not drain Node/{NODE}: PodDisruptionBudget shop/web")
    assert "`kubectl -n shop get pdb web -o yaml`" in why
    assert "Nothing was done, not even the cordon" in why
    # Asked again every cycle while it holds: one escalation, never a cordon.
    rig.run(90)
    assert len(rig.channel.escalated) == 1
    assert _node_writes(rig) == []
    # Relaxed, the drain is planned and asked about as before, the budget named.
    rig.server.store.modify(
        "PodDisruptionBudget", "shop", "web", lambda b: b["spec"].update(minAvailable=2)
    )
    rig.run(30)
    (decision,) = rig.decisions_of(RUNBOOK)
    assert decision.status == "asked"
    (found,) = decision.evidence["disruption_budgets"]["covering"]
    assert (found["verdict"], found["disruptionsAllowed"]) == ("allows", 2)


def test_budgets_that_cannot_be_read_are_said_and_the_drain_goes_on(rig: KubeRig) -> None:
    rig.server.inject(r"/apis/policy/v1/poddisruptionbudgets", method="GET", times=100, status=403)
    seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360})
    seed_web(rig, replicas=4, nodes=(NODE, "node-4"))
    seed_pdb(rig.server.store, "web", app="web", namespace="shop", min_available=4)
    handled = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert [h.outcome for h in handled] == ["decided"]
    (decision,) = rig.decisions_of(RUNBOOK)
    unread = decision.evidence["disruption_budgets"]["unread"]
    assert "not allowed to list" in unread and "poddisruptionbudgets" in unread
    assert f"PodDisruptionBudgets could not be read ({unread})" in decision.reason
    assert rig.approve_pending() == 1
    rig.run(30)
    # The drain started: cordoned, and the eviction API (which still applies the
    # budget) refused the pods it protects.
    assert "nodes" in _node_writes(rig)


def _explain(rig: KubeRig, tmp_path: Path, decision: str) -> list[str]:
    """`autonomic explain` through the CLI's entry point, on the rig's ledger."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            main(["explain", decision[:12], "--ledger", f"sqlite:///{tmp_path}/ledger.sqlite"]) == 0
        )
    return out.getvalue().splitlines()


def test_explain_says_a_budget_blocked_drain_once_with_each_budget_and_no_confidence(
    rig: KubeRig, tmp_path: Path
) -> None:
    """The hand-off's story: its reason under ``why``, whole (what blocks, the command
    to inspect it, that nothing was written, what to do next); each covering budget's
    verdict under ``disruption budgets``; neither said again (the evidence's denial,
    the escalation's why), no empty window, and no confidence it never had. Then the
    drain decided once the budget is relaxed: its plan, with the budget, said once."""
    seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360})
    seed_web(rig, replicas=4, nodes=(NODE, "node-4"))
    seed_pdb(rig.server.store, "web", app="web", namespace="shop", min_available=4)
    rig.cycle()
    (held,) = [d for d in rig.ledger.decisions(kind="remediation")]
    text = _explain(rig, tmp_path, held.id)
    budget = (
        "PodDisruptionBudget shop/web allows 0 disruptions (4 healthy, 4 desired, 4 "
        "expected; minAvailable 4), 2 of its pods on node node-3 ("
    )
    (why,) = [line for line in text if line.startswith("  why      ")]
    assert why.startswith(
        f"  why      PodDisruptionBudgetBlocks: {RUNBOOK} will not drain Node/{NODE}: {budget}"
    ), why
    assert "`kubectl -n shop get pdb web -o yaml`" in why
    assert "Nothing was done, not even the cordon" in why
    assert f"`kubectl drain {NODE} --ignore-daemonsets --delete-emptydir-data`" in why
    evidence = text[text.index("Evidence") + 1 : text.index("Routing") - 1]
    assert evidence[0] == "  disruption budgets:"
    assert len(evidence) == 3 and evidence[1].startswith(f"    {budget}"), evidence
    assert evidence[2] == "  events: none recent"  # the Node's recent Kubernetes Events
    assert evidence[1].endswith("or move the pods by hand"), evidence
    routing = text[text.index("Routing") + 1 : text.index("Outcome") - 1]
    assert routing == [
        "  route      escalate: handed to a person by the guards (PodDisruptionBudgetBlocks); "
        "no confidence was judged and nothing was proposed to run"
    ]
    outcome = text[text.index("Outcome") + 1 :]
    assert outcome[1] == "    why: the decision's reason, under why above", outcome
    assert sum(budget in line for line in text) == 2  # why, and the budget's own line

    rig.server.store.modify(
        "PodDisruptionBudget", "shop", "web", lambda b: b["spec"].update(minAvailable=2)
    )
    rig.run(30)
    (decision,) = rig.decisions_of(RUNBOOK)
    text = _explain(rig, tmp_path, decision.id)
    (why,) = [line for line in text if line.startswith("  why      ")]
    assert (
        why == "  why      kubernetes:NodeNotReady: kubernetes NodeNotReady on "
        f"Node/{NODE} (signal confidence 100.0%)"
    )
    (proposed,) = [line for line in text if line.startswith("  proposed ")]
    allows = (
        "PodDisruptionBudget shop/web allows 2 disruptions (4 healthy, 2 desired, 4 "
        "expected; minAvailable 2)"
    )
    assert proposed.startswith(f"  proposed Node {NODE}: cordon and drain (2 pods to evict, ")
    assert allows in proposed and proposed.endswith("they may be evicted now)")
    assert "  disruption budgets:" in text
    assert sum(allows in line for line in text) == 2  # the plan, and the budget's line


def _asked_drain(rig: KubeRig) -> str:
    """A drain of NODE asked about while web's budget allows it (2 of its 4 pods may go,
    both on NODE); the decision's id."""
    seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360})
    seed_web(rig, replicas=4, nodes=(NODE, "node-4"))
    seed_pdb(rig.server.store, "web", app="web", namespace="shop", min_available=2)
    handled = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert [h.outcome for h in handled] == ["decided"]
    (decision,) = rig.decisions_of(RUNBOOK)
    assert decision.status == "asked"
    (found,) = decision.evidence["disruption_budgets"]["covering"]
    assert found["verdict"] == "allows"
    return decision.id


def _tighten(rig: KubeRig, **spec: Any) -> None:
    """Someone tightens web's budget while the drain waits for its answer."""
    rig.server.store.modify("PodDisruptionBudget", "shop", "web", lambda b: b["spec"].update(spec))


def _closed_unwritten(rig: KubeRig, decision: str) -> str:
    """The decision closed as superseded, nothing written, its guards given back and
    its runbook's breaker untouched; what its thread says."""
    assert _node_writes(rig) == []  # not even the cordon
    assert rig.ledger.intents() == []
    record = rig.ledger.get_decision(decision)
    assert record is not None and record.status == "superseded"
    state, _ = rig.engine.guard_state()
    assert state.in_flight == () and state.actions == ()
    assert state.breakers.get(RUNBOOK, BreakerState()).consecutive_failures == 0
    (row,) = [f for f in rig.ledger.feedback_for(decision) if f["outcome"] == "superseded"]
    why = str(row["detail"]["why"])
    assert why.startswith(
        "not executed: the PodDisruptionBudgets, read again before the cordon, now keep the "
        "drain from finishing (they did not when it was decided): PodDisruptionBudget "
        "shop/web allows 0 disruptions (4 healthy, 4 desired, 4 expected; minAvailable 4)"
    ), why
    assert why.endswith("The node was not cordoned; nothing was written to the cluster"), why
    ((escalated, said),) = rig.channel.escalated
    assert escalated == decision
    assert said.startswith(
        f"{RUNBOOK} will not drain Node/{NODE} as approved (decision {short_id(decision)}): "
        "PodDisruptionBudget shop/web allows 0 disruptions"
    ), said
    assert "`kubectl -n shop get pdb web -o yaml`" in said
    assert "Nothing was done, not even the cordon" in said
    return why


def test_an_approved_drain_a_budget_now_blocks_is_superseded_before_the_cordon(
    rig: KubeRig,
) -> None:
    """Asked at 10:00 while the budget allowed it; the budget set to minAvailable 4
    (every pod it has) before the approval at 10:40: the run is closed, not cordoned,
    and a person is told with the budget named, in the plan's words."""
    decision = _asked_drain(rig)
    rig.clock.advance(40 * 60)
    _tighten(rig, minAvailable=4)
    assert rig.approve_pending() == 1
    rig.run(30)
    _closed_unwritten(rig, decision)
    rig.run(90)  # closed for good: nothing more, said once
    assert _node_writes(rig) == [] and len(rig.channel.escalated) == 1


def test_a_claimed_drain_a_budget_now_blocks_is_closed_before_its_first_intent(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claimed, the ledger fails on its first write-ahead intent; the budget tightens
    meanwhile: the next cycle closes the run, decision and execution, nothing written."""
    decision = _asked_drain(rig)
    assert rig.approve_pending() == 1
    key = cycle_failing_first_intent(rig, monkeypatch)
    record = rig.ledger.get_decision(decision)
    assert record is not None and record.status == "executing"
    _tighten(rig, minAvailable=4)
    rig.run(30)
    _closed_unwritten(rig, decision)
    execution = rig.ledger.execution(key)
    assert execution is not None and execution["status"] == "superseded"


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process."""


def _dies_before_escalating(rig: KubeRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies at its next escalation, before the chat (or the ledger) has it."""

    def escalate(*_args: Any) -> str:
        raise _Killed

    monkeypatch.setattr(rig.channel, "escalate", escalate)


def _restarted(rig: KubeRig) -> None:
    """A new process on the same ledger and cluster: a new engine, nothing in memory."""
    old = rig.engine
    rig.engine = RemediationEngine(
        runbooks=load_paths([RUNBOOKS]),
        ledger=rig.ledger,
        decisions=rig.decisions,
        executor=rig.executor,
        reader=rig.cluster,
        clock=rig.clock,
        limits=old.limits,
        query=rig.promql,
        alerts=rig.intake.firing,
        inbox=old.inbox,
        identity=old.identity,
    )


def test_a_crash_between_superseding_a_blocked_drain_and_its_escalation_escalates_once(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Approved, the budget tightened meanwhile: the decision is closed as superseded,
    and the process dies before the escalation. The escalation was promised with the
    closing, in one transaction: the recovery sends it, once."""
    decision = _asked_drain(rig)
    _tighten(rig, minAvailable=4)
    assert rig.approve_pending() == 1
    _dies_before_escalating(rig, monkeypatch)
    rig.clock.advance(30)
    with pytest.raises(_Killed):
        rig.cycle()
    monkeypatch.undo()
    record = rig.ledger.get_decision(decision)
    assert record is not None and record.status == "superseded"
    assert rig.channel.escalated == []
    _restarted(rig)
    assert rig.engine.recover()["escalated"] == 1
    _closed_unwritten(rig, decision)
    assert rig.engine.recover()["escalated"] == 0
    rig.run(90)
    assert len(rig.channel.escalated) == 1  # once
    assert [(f["kind"], f["outcome"]) for f in rig.ledger.feedback_for(decision)][-2:] == [
        ("execution", "superseded"),
        ("escalation", "escalated"),
    ]
    # `explain` says the escalation once, in its own row, not in the closing's too
    said = _explain(rig, tmp_path, decision)
    (closing,) = [line for line in said if "execution: superseded" in line]
    assert closing.endswith("execution: superseded (autonomic)"), closing
    assert sum("Nothing was done, not even the cordon" in line for line in said) == 1, said


def test_a_crash_between_closing_a_claimed_blocked_drain_and_its_escalation_escalates_once(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claimed, its first intent not recorded (the ledger failed), the budget tightened:
    the next cycle closes the run as superseded and dies before the escalation. The
    recovery sends the escalation, once, and finishes closing the run."""
    decision = _asked_drain(rig)
    assert rig.approve_pending() == 1
    key = cycle_failing_first_intent(rig, monkeypatch)
    _tighten(rig, minAvailable=4)
    _dies_before_escalating(rig, monkeypatch)
    rig.clock.advance(30)
    with pytest.raises(_Killed):
        rig.cycle()
    monkeypatch.undo()
    record = rig.ledger.get_decision(decision)
    assert record is not None and record.status == "superseded"
    assert rig.channel.escalated == []
    _restarted(rig)
    counts = rig.engine.recover()
    assert (counts["escalated"], counts["superseded"]) == (1, 1)
    _closed_unwritten(rig, decision)
    execution = rig.ledger.execution(key)
    assert execution is not None and execution["status"] == "superseded"
    rig.run(90)
    assert rig.engine.recover()["escalated"] == 0
    assert len(rig.channel.escalated) == 1  # once


def test_an_escalation_that_failed_after_the_closing_is_sent_at_the_next_cycle(
    rig: KubeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger fails as the escalation is recorded (no crash): the next cycle of the
    same process sends it, once."""
    decision = _asked_drain(rig)
    _tighten(rig, minAvailable=4)
    assert rig.approve_pending() == 1
    real = rig.channel.escalate
    calls: list[str] = []

    def escalate(record: Any, why: str) -> str:
        calls.append(why)
        if len(calls) == 1:
            raise TransientError("the ledger at sqlite:///x write failed: disk I/O error")
        return real(record, why)

    monkeypatch.setattr(rig.channel, "escalate", escalate)
    rig.clock.advance(30)
    with pytest.raises(TransientError):
        rig.cycle()
    assert rig.channel.escalated == []
    rig.run(30)
    _closed_unwritten(rig, decision)
    rig.run(90)
    assert len(calls) == 2 and len(rig.channel.escalated) == 1


def test_an_approved_drain_a_budget_only_makes_wait_goes_on(rig: KubeRig) -> None:
    """A budget that allows none now but whose pods elsewhere are on their way to ready
    ("waits") lets the drain start: its rounds ask again."""
    decision = _asked_drain(rig)
    # One of web's pods elsewhere is not ready: the budget (minAvailable 3) allows none
    # now, and will allow one as that pod becomes ready.
    (elsewhere,) = [
        p["metadata"]["name"]
        for p in rig.server.store.objects("Pod", "shop")
        if p["spec"].get("nodeName") == "node-4"
    ][:1]
    rig.server.store.modify(
        "Pod",
        "shop",
        elsewhere,
        lambda p: p["status"].update(
            conditions=[{"type": "Ready", "status": "False"}],
            containerStatuses=[
                dict(c, ready=False) for c in p["status"].get("containerStatuses", [])
            ],
        ),
    )
    _tighten(rig, minAvailable=3)
    (pdb,) = rig.cluster.read_disruption_budgets().budgets
    assert (pdb.disruptions_allowed, pdb.current_healthy, pdb.desired_healthy) == (0, 3, 3)
    assert rig.approve_pending() == 1
    rig.run(30)
    assert "nodes" in _node_writes(rig)  # cordoned
    record = rig.ledger.get_decision(decision)
    assert record is not None and record.status == "executing"
    assert rig.channel.escalated == []


def _down_on_node(rig: KubeRig, tolerations: list[dict[str, Any]]) -> None:
    """web's pods on NODE not ready (as the node lifecycle controller marks them), with
    ``tolerations`` in their spec."""
    for pod in rig.server.store.objects("Pod", "shop"):
        if pod["spec"].get("nodeName") != NODE:
            continue

        def change(p: dict[str, Any]) -> None:
            p["spec"]["tolerations"] = tolerations
            p["status"]["conditions"] = [{"type": "Ready", "status": "False"}]

        rig.server.store.modify("Pod", "shop", pod["metadata"]["name"], change)


def test_pods_tolerating_the_nodes_taint_for_ever_make_their_budget_block_the_drain(
    rig: KubeRig,
) -> None:
    """web's two pods on the NotReady node are not ready and tolerate every taint with no
    tolerationSeconds: the node lifecycle controller never deletes them, and their budget
    (minAvailable 3, 2 healthy) refuses them: handed to a person, the toleration named.
    With the 300 s DefaultTolerationSeconds writes, the same budget only delays it."""
    seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360})
    seed_web(rig, replicas=4, nodes=(NODE, "node-4"))
    _down_on_node(rig, [{"operator": "Exists"}])
    seed_pdb(rig.server.store, "web", app="web", namespace="shop", min_available=3)
    handled = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert [(h.outcome, h.reason_code) for h in handled] == [("denied", PDB_BLOCKS)]
    assert (
        "tolerate the node's node.kubernetes.io/not-ready:NoExecute taint for ever "
        "(`{operator: Exists}`, no tolerationSeconds), so the node lifecycle controller "
        "never deletes them"
    ) in handled[0].message
    assert _node_writes(rig) == []


def test_pods_with_default_toleration_seconds_only_delay_the_drain(rig: KubeRig) -> None:
    seed_nodes(rig, 10, not_ready={NODE: rig.clock.now() - 360})
    seed_web(rig, replicas=4, nodes=(NODE, "node-4"))
    default = [
        {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute"}
        | {"tolerationSeconds": 300}
        for taint in ("not-ready", "unreachable")
    ]
    _down_on_node(rig, default)
    seed_pdb(rig.server.store, "web", app="web", namespace="shop", min_available=3)
    handled = [h for h in rig.cycle() if h.runbook == RUNBOOK]
    assert [h.outcome for h in handled] == ["decided"]
    (decision,) = rig.decisions_of(RUNBOOK)
    (found,) = decision.evidence["disruption_budgets"]["covering"]
    assert found["verdict"] == "waits"
    assert "deletes them 300 s after it was tainted node.kubernetes.io/not-ready" in found["says"]
