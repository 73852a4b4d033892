"""A run started by a pod or node condition that is over before its first write is not
carried out: the decision is closed as ``superseded``, nothing written, and the reason
(the object, the condition, since when) kept for ``autonomic explain``. Over means the
object shows it, since after the decision and steady: a node Ready again for a while, a
pod Ready with no restart since. In doubt (a node Ready only briefly, or NotReady again,
a pod still stuck) the run goes on and the log says why; a run part written goes on.

The engine over the simulated cluster, on a fake clock; the runbooks are the shipped
ones, asked about (``maxAutonomy: ask``) so that the answer can come late."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.executor import StepOutcome
from agent.ledger import DecisionRecord
from agent.sim.cluster import SimNode, SimPod
from remediation.recovery import CRASH_SETTLE, SETTLE
from remediation.windows import to_utc_text
from tests.unit.engine.harness import (
    RUNBOOKS,
    WEB,
    Rig,
    approve_pending,
    asked_decision,
    restarted,
    rig,
    status_of,
    web,
)

DRAIN = "node-notready-drain"


class _KilledError(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process (one approved decision's
    ``Exception`` is caught, so that the others go on)."""


CRASHLOOP = "crashloop-after-rollout-rollback"
STUCK = "restart-stuck-pods"


def _rig(tmp_path: Path, name: str, edit: tuple[str, str] = ("", "")) -> Rig:
    """A rig with only the runbook ``name``, asked about, ``edit`` (old, new) made in it."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = (RUNBOOKS / f"{name}.yaml").read_text().replace("maxAutonomy: auto", "maxAutonomy: ask")
    (folder / f"{name}.yaml").write_text(text.replace(*edit) if edit[0] else text)
    r = rig(tmp_path, runbooks=folder)
    r.decisions.approvals.ttl = 3600  # a late answer, not an expired question
    # Four nodes: one NotReady leaves 75 %, above the drain's minHealthyFraction of 70 %.
    r.sim.nodes["node-d"] = SimNode("node-d")
    r.sim.add_workload(web())
    return r


def _why(r: Rig, decision: str) -> str:
    (row,) = [f for f in r.ledger.feedback_for(decision) if f["outcome"] == "superseded"]
    return str(row["detail"]["why"])


def _node(r: Rig, ready: bool) -> float:
    """node-a turns Ready (or NotReady) now: when."""
    r.sim.now = r.clock.now()
    r.sim.set_node_ready("node-a", ready)
    return r.clock.now()


def _drain_asked(tmp_path: Path) -> tuple[Rig, DecisionRecord]:
    r = _rig(tmp_path, DRAIN)
    _node(r, False)
    r.run(6 * 60)  # NotReady for 5 minutes: the drain is asked about
    return r, asked_decision(r, DRAIN)


def _drain_writes(r: Rig) -> list[str]:
    return [w[1] for w in r.sim.writes if w[1] in ("cordon", "drain")]


# ------------------------------------------------------------------- node conditions
def test_a_drain_approved_after_its_node_came_back_is_superseded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r, decision = _drain_asked(tmp_path)
    back = _node(r, True)
    r.run(SETTLE + 60)  # Ready for 6 minutes when the person answers
    approve_pending(r)
    r.run(60)
    assert _drain_writes(r) == [] and not r.sim.nodes["node-a"].unschedulable
    assert r.ledger.intents() == []
    assert status_of(r, decision.id) == "superseded"
    why = _why(r, decision.id)
    assert why == (
        "not executed: Node/node-a, NotReady when this decision was made, has been Ready "
        f"since {to_utc_text(back)} (6m30s without a break), before the first write: there "
        "is nothing left for it to remediate; nothing was written to the cluster"
    ), why
    capsys.readouterr()
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert main(["explain", decision.id, "--ledger", ledger]) == 0
    told = capsys.readouterr().out
    assert "Node/node-a, NotReady when this decision was made, has been Ready" in told
    assert "signal_over" not in told  # the engine's own mark, not for people


def test_a_drain_goes_on_when_its_node_is_ready_only_briefly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r, decision = _drain_asked(tmp_path)
    back = _node(r, True)
    r.run(120)  # Ready for 2 minutes: less than the settle time
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        r.run(30)
    assert _drain_writes(r) == ["drain"]
    assert status_of(r, decision.id) != "superseded"
    assert (
        f"its condition is not over: Node/node-a is Ready again, but only since "
        f"{to_utc_text(back)}, less than 5m before this check; going on"
    ) in caplog.text


def test_a_drain_goes_on_when_its_node_flapped_notready_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r, decision = _drain_asked(tmp_path)
    _node(r, True)
    r.run(SETTLE + 60)
    _node(r, False)  # NotReady again
    r.run(30)
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        r.run(30)
    assert _drain_writes(r) == ["drain"]
    assert status_of(r, decision.id) != "superseded"
    assert (
        "its condition is not over: Node/node-a is still NotReady (Ready is False); going on"
    ) in caplog.text


def test_a_drain_part_written_goes_on_when_its_node_came_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Cordoned, then the process dies before the drain; the node is Ready again when it
    comes back: the run goes on (its verification judges it), and the log says why."""
    r = _rig(tmp_path, DRAIN, ("    - type: drain\n", "    - type: cordon\n    - type: drain\n"))
    _node(r, False)
    r.run(6 * 60)
    decision = asked_decision(r, DRAIN)
    assert [op["op"] for op in decision.proposal["operations"]] == ["cordon", "drain"]
    approve_pending(r)
    real = r.executor.apply

    def apply(key: str, step: int, *args: Any, **kwargs: Any) -> StepOutcome:
        if step == 1:
            raise _KilledError
        return real(key, step, *args, **kwargs)

    monkeypatch.setattr(r.executor, "apply", apply)
    with pytest.raises(_KilledError):
        r.run(30)
    monkeypatch.undo()
    assert _drain_writes(r) == ["cordon"]
    _node(r, True)
    r.clock.advance(SETTLE + 60)
    r = restarted(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        assert r.engine.recover()["superseded"] == 0
    assert _drain_writes(r) == ["cordon", "drain"]
    assert status_of(r, decision.id) != "superseded"
    assert "Node/node-a, NotReady when this decision was made, has been Ready since" in (
        caplog.text
    )
    assert "but 1 of its 2 steps are written already: going on" in caplog.text


# -------------------------------------------------------------------- pod conditions
def _crashloop_asked(tmp_path: Path) -> tuple[Rig, DecisionRecord]:
    """web rolled out to an image that crash-loops, until the rollback is asked about."""
    r = _rig(tmp_path, CRASHLOOP)
    r.sim.workloads[WEB].bad_images.add("shop/web:2")
    r.sim.roll_out(WEB, "shop/web:2")
    for _ in range(20):
        r.run(30)
        if r.ledger.decisions(kind="remediation"):
            break
    return r, asked_decision(r, CRASHLOOP)


def _pod_of(decision: DecisionRecord) -> str:
    """The pod whose crash loop the decision was made on, as its reason names it."""
    found = re.search(r" on (Pod/\S+) ", decision.reason)
    assert found is not None, decision.reason
    return found.group(1)


def test_a_rollback_approved_after_the_crash_loop_stopped_is_superseded(tmp_path: Path) -> None:
    """The Deployment's pods are what matter: the crash-looping pod Ready again with no
    restart since, and every pod of web Ready for 10 minutes."""
    r, decision = _crashloop_asked(tmp_path)
    subject = _pod_of(decision)
    r.sim.workloads[WEB].bad_images.clear()  # whatever it crashed on came back
    r.run(CRASH_SETTLE + 120)
    approve_pending(r)
    r.run(60)
    assert [w for w in r.sim.writes if w[1] == "rollback"] == []
    assert r.sim.workloads[WEB].template.image == "shop/web:2"
    assert status_of(r, decision.id) == "superseded"
    why = _why(r, decision.id)
    assert why.startswith(
        f"not executed: {subject}, in CrashLoopBackOff when this decision was made, "
        "has been Ready since "
    ), why
    assert (
        "and the other 2 pods of Deployment/shop/web have been Ready for 10m or more, none in "
        "CrashLoopBackOff, before the first write: there is nothing left for it to remediate; "
        "nothing was written to the cluster"
    ) in why, why


def test_a_crash_loop_back_after_its_rollback_was_superseded_is_decided_again(
    tmp_path: Path,
) -> None:
    """A crash loop is one incident per revision: the rollback closed because the loop
    stopped must not leave the revision's next crash loop a duplicate for good."""
    r, decision = _crashloop_asked(tmp_path)
    r.sim.workloads[WEB].bad_images.clear()
    r.run(CRASH_SETTLE + 120)
    approve_pending(r)
    r.run(60)
    assert status_of(r, decision.id) == "superseded"
    r.sim.workloads[WEB].bad_images.add("shop/web:2")  # the same revision crashes again
    for _ in range(20):
        r.run(30)
        if len(r.ledger.decisions(kind="remediation")) > 1:
            break
    again = [d for d in r.ledger.decisions(kind="remediation") if d.id != decision.id]
    assert len(again) == 1, [d.status for d in r.ledger.decisions(kind="remediation")]
    assert again[0].decision_type == decision.decision_type
    assert again[0].status == "asked"
    assert again[0].incident_key == decision.incident_key


def test_a_crash_loop_still_seen_after_a_superseded_rollback_for_another_reason_stays_a_duplicate(
    tmp_path: Path,
) -> None:
    """Closed for another reason (here: someone else rolled the workload since), the
    incident is not decided again by this rule."""
    r, decision = _crashloop_asked(tmp_path)
    assert not r.engine._recurred(decision, _signal_after(decision))
    assert r.ledger.transition(decision.id, ["asked"], "superseded", r.clock.now())
    r.ledger.add_feedback(
        decision.id, "execution", "superseded", "autonomic", r.clock.now(), {"why": "other"}
    )
    record = r.ledger.get_decision(decision.id)
    assert record is not None
    assert not r.engine._recurred(record, _signal_after(record))


def _signal_after(decision: DecisionRecord) -> Any:
    from remediation.signals import kubernetes_signal

    return kubernetes_signal(
        condition="CrashLoopBackOff",
        target=WEB,
        at=decision.created_at + 10_000,
        incident="x",
    )


def test_a_rollback_goes_on_while_the_crash_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r, decision = _crashloop_asked(tmp_path)
    r.run(CRASH_SETTLE)
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        r.run(60)
    assert [w[1] for w in r.sim.writes].count("rollback") == 1
    assert status_of(r, decision.id) != "superseded"
    subject = _pod_of(decision)
    assert f"its condition is not over: {subject} " in caplog.text


def _stuck_asked(tmp_path: Path) -> tuple[Rig, DecisionRecord, SimPod]:
    """A pod of web Running but not Ready (wedged) for 15 minutes: its restart asked."""
    r = _rig(tmp_path, STUCK)
    r.run(60)
    pod = sorted(r.sim.pods_of(WEB), key=lambda p: p.name)[0]
    pod.crashed_until = r.clock.now() + 10 * 86400  # not ready, not waiting: wedged
    r.run(16 * 60)
    decision = asked_decision(r, STUCK)
    assert decision.subject == f"Pod/shop/{pod.name}"
    return r, decision, pod


def test_a_restart_approved_after_its_pod_recovered_is_superseded(tmp_path: Path) -> None:
    r, decision, pod = _stuck_asked(tmp_path)
    pod.crashed_until = back = r.clock.now()  # Ready again, by itself
    r.run(SETTLE + 60)
    approve_pending(r)
    r.run(60)
    assert pod.name in r.sim.pods  # not deleted
    assert status_of(r, decision.id) == "superseded"
    assert _why(r, decision.id) == (
        f"not executed: Pod/shop/{pod.name}, not ready when this decision was made, has been "
        f"Ready since {to_utc_text(back)} (6m30s without a break), with no restart since "
        "(0, as then), before the first write: there is nothing left for it to remediate; "
        "nothing was written to the cluster"
    )


def test_a_restart_approved_after_its_pod_was_deleted_is_superseded(tmp_path: Path) -> None:
    """The runbook acts on the pod itself: once it is gone, there is nothing to act on
    (its replacement, if it gets stuck, is an incident of its own)."""
    r, decision, pod = _stuck_asked(tmp_path)
    r.sim._delete(pod.name)  # a person deleted it
    approve_pending(r)
    r.run(60)
    assert status_of(r, decision.id) == "superseded"
    assert _why(r, decision.id) == (
        f"not executed: Pod/shop/{pod.name}, not ready when this decision was made, no longer "
        "exists (deleted, or replaced by its controller), before the first write: there is "
        "nothing left for it to remediate; nothing was written to the cluster"
    )


def test_a_restart_goes_on_while_its_pod_is_still_stuck(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r, decision, pod = _stuck_asked(tmp_path)
    r.run(SETTLE + 60)
    approve_pending(r)
    with caplog.at_level(logging.INFO, logger="autonomic"):
        r.run(60)
    assert pod.name not in r.sim.pods  # deleted: its controller replaces it
    assert status_of(r, decision.id) != "superseded"
    assert (
        f"its condition is not over: Pod/shop/{pod.name} is not Ready (phase Running); going on"
    ) in caplog.text
