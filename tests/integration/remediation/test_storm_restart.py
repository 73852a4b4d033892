"""A restart, or a new leader, is not a trigger storm; a storm after one still is.

The storm guard counts the signals a runbook takes up, each once (by its dedup key): a
pod that crash-loops for an hour is one trigger, not one per cycle. Which keys it had
counted lived in the leader's memory only, so the first cycle after a restart or a
change of leader counted every standing signal again, all in that one minute: with more
than ``safety.stormThreshold`` of them (crash-looping pods nobody has fixed), the storm
guard held all automation for ``stormCooldown`` and sent a storm notice, for nothing.
The keys counted are kept in the ledger now, and a new process reads them back.

The standing signals here: Deployments whose pods crash-loop, rolled out long ago, so
``crashloop-after-rollout-rollback`` takes each up (a trigger) and its ``changedWithin``
precondition then leaves it alone. They appear a few a minute, never a storm.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.daemon import Daemon
from agent.observability import Metrics
from remediation.guards import GlobalLimits
from tests.harness.gates import SwitchGate
from tests.integration.remediation.rig import (
    KubeRig,
    Replicas,
    open_replicas,
    seed_nodes,
    seed_web,
)

THRESHOLD = 10  # safety.stormThreshold: more than 10 triggers in a minute is a storm
STANDING = 16  # crash-looping Deployments standing at the restart: more than the threshold
PER_MINUTE = 4  # how many appear a minute before it: never a storm


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replicas]:
    yield from open_replicas(
        request,
        tmp_path,
        identity="autonomic-a",
        limits=GlobalLimits(storm_triggers_per_minute=THRESHOLD),
    )


def crash_loop(rig: KubeRig, first: int, count: int) -> None:
    """``count`` more Deployments whose one pod crash-loops, rolled out two hours ago."""
    for index in range(first, first + count):
        seed_web(
            rig,
            name=f"svc-{index}",
            replicas=1,
            behaviour="CrashLoopBackOff",
            rolled_out_at=rig.clock.now() - 7200,
        )


def build_up(rig: KubeRig, standing: int = STANDING, *, first: int = 0) -> None:
    """``standing`` crash loops appear, ``PER_MINUTE`` a minute, with a cycle a minute."""
    for start in range(first, first + standing, PER_MINUTE):
        crash_loop(rig, start, min(PER_MINUTE, first + standing - start))
        rig.clock.advance(60)
        rig.cycle()


def storms(rig: KubeRig) -> list[str]:
    """The storm notices in the ledger."""
    return [d.reason for d in rig.ledger.decisions(limit=10_000) if d.decision_type == "storm"]


def held_by_storm(handled: list[object]) -> int:
    return sum(1 for h in handled if getattr(h, "reason_code", "") in ("Storm", "StormCooldown"))


def test_a_restart_with_standing_signals_is_not_a_storm(replicas: Replicas) -> None:
    a = replicas.start()
    seed_nodes(a, 2)
    build_up(a)
    assert storms(a) == [] and held_by_storm(a.handled) == 0
    assert sum(1 for h in a.handled if h.reason_code == "NoRecentChange") >= STANDING

    replicas.die(a)
    b = replicas.start(at=a.clock.now() + 20)
    for _ in range(3):
        b.clock.advance(30)
        b.cycle()
    assert held_by_storm(b.handled) == 0, "the standing crash loops were counted again"
    assert storms(b) == []
    assert sum(1 for h in b.handled if h.reason_code == "NoRecentChange") == 3 * STANDING


def test_a_storm_that_arrives_during_a_restart_is_still_caught(replicas: Replicas) -> None:
    a = replicas.start()
    seed_nodes(a, 2)
    build_up(a)
    replicas.die(a)
    # While no process runs, more than the threshold of new crash loops begin.
    crash_loop(a, STANDING, THRESHOLD + 1)
    b = replicas.start(at=a.clock.now() + 40)  # A's last triggers are a minute old
    b.clock.advance(30)
    b.cycle()
    (notice,) = storms(b)
    assert f"{THRESHOLD + 1} triggers in the last minute" in notice  # the new ones only
    assert held_by_storm(b.handled) == STANDING + THRESHOLD + 1  # everything held


def test_a_storm_right_after_a_restart_is_still_caught(replicas: Replicas) -> None:
    a = replicas.start()
    seed_nodes(a, 2)
    build_up(a)
    replicas.die(a)
    b = replicas.start(at=a.clock.now() + 20)
    b.clock.advance(30)
    b.cycle()
    assert storms(b) == []
    crash_loop(b, STANDING, THRESHOLD + 1)
    b.clock.advance(30)
    b.cycle()
    assert len(storms(b)) == 1
    assert held_by_storm(b.handled) == STANDING + THRESHOLD + 1


def _replica(rig: KubeRig) -> tuple[Daemon, SwitchGate]:
    """The daemon around ``rig``'s engine, as ``autonomic run`` composes it, on a gate the
    test hands over and takes back."""
    gate = SwitchGate(leader=False)
    daemon = Daemon(
        settings=SimpleNamespace(anomaly_queries=[]),  # type: ignore[arg-type]
        clock=rig.clock,
        ledger=rig.ledger,
        metrics=Metrics(),
        decisions=rig.decisions,
        engine=rig.engine,
        anomaly=None,  # type: ignore[arg-type]
        gate=gate,
        alerts=rig.intake,
    )
    return daemon, gate


def test_a_replica_leading_again_counts_what_the_other_leader_counted_once(
    replicas: Replicas,
) -> None:
    """B leads, then A while the crash loops build up (A counts them), then B again: B's
    memory is from before A's term, and it counted all of A's at once."""
    a_rig = replicas.start(identity="autonomic-a")
    b_rig = replicas.start(identity="autonomic-b")
    seed_nodes(a_rig, 2)
    a, a_gate = _replica(a_rig)
    b, b_gate = _replica(b_rig)

    def minute(leader: Daemon) -> None:
        for rig in (a_rig, b_rig):
            rig.clock.advance(60)
        a.remediation_cycle()  # the job runs on every replica; only the leader cycles
        b.remediation_cycle()

    b_gate.leader = True
    minute(b)
    b_gate.leader = False
    a_gate.leader = True
    for start in range(0, STANDING, PER_MINUTE):
        crash_loop(a_rig, start, PER_MINUTE)
        minute(a)
    assert storms(a_rig) == []
    a_gate.leader = False
    b_gate.leader = True
    for _ in range(3):
        minute(b)
    assert storms(b_rig) == [], "B counted the crash loops A had counted"
    held = b_rig.decisions.metrics.runbook_outcomes.labels(
        runbook="crashloop-after-rollout-rollback", outcome="denied", reason="Storm"
    )
    assert held._value.get() == 0


def _counted(rig: KubeRig) -> int:
    """The triggers the shared guard state holds (those of the last minutes)."""
    state, _ = rig.engine.guard_state()
    return len(state.trigger_times)


def test_two_replicas_cycling_at_once_count_each_trigger_once(replicas: Replicas) -> None:
    """The old leader's last cycle and the new leader's first overlap: each reads which
    of the standing signals were counted before (none), then counts them. Each signal
    is one trigger, whichever replica counts it: 2 x 8 would be a storm."""
    a_rig = replicas.start(identity="autonomic-a")
    b_rig = replicas.start(identity="autonomic-b", at=a_rig.clock.now())
    seed_nodes(a_rig, 2)
    crash_loop(a_rig, 0, 8)
    for rig in (a_rig, b_rig):
        rig.clock.advance(60)
    read = a_rig.engine.ledger.counted_triggers
    overlapped: list[bool] = []

    def read_then_b_cycles(keys: list[str]) -> dict[str, float]:
        found = read(keys)
        if not overlapped:  # B's whole cycle falls between A's read and A's count
            overlapped.append(True)
            b_rig.cycle()
        return found

    a_rig.engine.ledger.counted_triggers = read_then_b_cycles  # type: ignore[method-assign]
    a_rig.cycle()
    assert overlapped
    assert _counted(a_rig) == 8
    assert storms(a_rig) == []


def test_the_ledger_failing_between_the_count_and_its_record_does_not_count_twice(
    replicas: Replicas,
) -> None:
    """The guard state counted the signals, then the ledger failed before the keys were
    recorded; the process restarts: the keys must not be counted a second time."""
    from agent.errors import LEDGER_UNAVAILABLE, TransientError

    a = replicas.start()
    seed_nodes(a, 2)
    crash_loop(a, 0, 8)
    a.clock.advance(60)

    def fails(keys: object, now: float) -> None:
        raise TransientError("the ledger is away", reason=LEDGER_UNAVAILABLE)

    a.engine.ledger.note_triggers = fails  # type: ignore[method-assign]
    a.cycle()
    assert _counted(a) == 8
    replicas.die(a)
    b = replicas.start(at=a.clock.now() + 10)
    b.cycle()
    assert _counted(b) == 8, "the standing signals were counted again after the restart"
