"""A fresh baseline (``autonomic.dev/baseline-of``) that comes and goes during an analysis:
each change of what the canary is compared with drops the evidence gathered so far, but
the analysis's clock (``canary.maxDuration``) counts from its first start, also across a
restart, so toggling the label cannot keep a canary from a verdict for ever."""

from __future__ import annotations

from agent.ledger import Ledger
from agent.loops.canary import BASELINE_OF, STARTED_KEY, Analysis, CanaryLoop, _incident_key
from agent.sim.cluster import SimCluster
from tests.unit.canary_loop.test_canary_baseline import (
    BASELINE,
    _restarted,
    add_baseline,
    ledger,
)
from tests.unit.canary_loop.test_canary_loop import rig

__all__ = ["ledger"]  # the fixture, used by name


def _toggle(cluster: SimCluster) -> None:
    """Take the baseline label off the baseline, or put it back."""
    labels = cluster.workloads[BASELINE].labels
    if labels.pop(BASELINE_OF, None) is None:
        labels[BASELINE_OF] = "search"


def _intervals(loop: CanaryLoop) -> set[int]:
    """The intervals in each metric's evidence, as the latest verdict counts them."""
    (analysis,) = loop.analyses.values()
    assert analysis.latest is not None
    return {m.intervals for m in analysis.latest.metrics}


def test_a_label_toggled_every_5_minutes_still_reaches_an_inconclusive_verdict(
    ledger: Ledger,
) -> None:
    """Before, each toggle started the analysis again with a fresh clock: after two hours
    the canary was still at "continue", with no verdict and nobody told. Now the verdict
    comes at maxDuration (1 h), inconclusive on the few intervals since the last change,
    escalated, and its sentence says how many times the comparison changed."""
    loop, signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(loop, cluster)
    toggles = 0
    for minute in range(1, 115):
        if minute > 1 and minute % 5 == 1 and not ledger.decisions(kind="canary"):
            _toggle(cluster)
            toggles += 1
        clock.advance(60)
        loop.cycle()
    (decision,) = ledger.decisions(kind="canary")
    assert decision.proposal["verdict"] == "inconclusive"
    assert (decision.route, decision.status) == ("escalate", "escalated")
    assert decision.evidence["decided_after_seconds"] == loop.settings.max_duration
    assert toggles == 11  # at minutes 6, 11, ..., 56: the verdict is at minute 60
    assert "reached its maximum duration" in decision.reason
    assert f"What it is compared with changed {toggles} times during the analysis" in (
        decision.reason
    )
    assert signals == []


def test_each_change_of_the_comparison_drops_the_evidence_and_keeps_the_clock(
    ledger: Ledger,
) -> None:
    loop, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(loop, cluster)
    clock.advance(60)
    loop.cycle()
    (analysis,) = loop.analyses.values()
    started = analysis.started_at
    for _ in range(3):
        clock.advance(60)
        loop.cycle()
    assert _intervals(loop) == {4}
    for change in (1, 2, 3):
        _toggle(cluster)
        clock.advance(60)
        loop.cycle()
        (analysis,) = loop.analyses.values()
        assert analysis.compared == (BASELINE if change % 2 == 0 else None)
        assert analysis.started_at == started and analysis.changes == change
        assert analysis.evidence_since == clock.now()
        assert _intervals(loop) == {1}  # only this cycle's interval: the rest dropped
        clock.advance(60)
        loop.cycle()
        assert _intervals(loop) == {2}
    value, _ = ledger.guard(_start_key(analysis))
    assert (value["at"], value["since"], value["changes"]) == (started, clock.now() - 60, 3)


def test_a_restart_between_changes_keeps_the_clock_and_the_evidence_since(
    ledger: Ledger,
) -> None:
    """The baseline goes mid-analysis, then the daemon restarts: the new process takes the
    analysis up on the first start's clock, reads back only the intervals since the
    change (those the live run had), and counts the change."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(live, cluster)
    for _ in range(4):
        clock.advance(60)
        live.cycle()
    cluster.remove_workload(BASELINE)
    for _ in range(3):
        clock.advance(60)
        live.cycle()
    (analysis,) = live.analyses.values()
    assert analysis.changes == 1 and _intervals(live) == {3}
    restarted = _restarted(live, cluster)
    clock.advance(60)
    restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.compared is None and again.started_at == analysis.started_at
    assert again.evidence_since == analysis.evidence_since and again.changes == 1
    assert _intervals(restarted) == {4}  # 3 read back and this cycle's, as the live run


def _start_key(analysis: Analysis) -> str:
    """The ledger guard key of the analysis's start record."""
    key = _incident_key(analysis.canary, analysis.revision, analysis.images, analysis.pod_hash)
    return f"{STARTED_KEY}/{key}"


def _as_before(ledger: Ledger, analysis: Analysis) -> None:
    """Rewrite the analysis's start record as one written before ``since`` existed."""
    key = _start_key(analysis)
    value, version = ledger.guard(key)
    old = {k: v for k, v in value.items() if k not in ("since", "changes")}
    assert ledger.put_guard(key, old, version, float(value["at"]))


def test_a_start_record_without_since_reads_as_before(ledger: Ledger) -> None:
    """Its evidence is from its start: a restart reads back every interval since then."""
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(live, cluster)
    for _ in range(5):
        clock.advance(60)
        live.cycle()
    (analysis,) = live.analyses.values()
    _as_before(ledger, analysis)
    restarted = _restarted(live, cluster)
    clock.advance(60)
    restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.compared == BASELINE and again.started_at == analysis.started_at
    assert again.evidence_since == analysis.started_at and again.changes == 0
    assert _intervals(restarted) == {6}


def test_a_start_record_without_since_keeps_its_clock_when_the_comparison_changed(
    ledger: Ledger,
) -> None:
    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(live, cluster)
    for _ in range(5):
        clock.advance(60)
        live.cycle()
    (analysis,) = live.analyses.values()
    _as_before(ledger, analysis)
    cluster.remove_workload(BASELINE)
    restarted = _restarted(live, cluster)
    clock.advance(60)
    restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.compared is None and again.started_at == analysis.started_at
    assert again.evidence_since == clock.now() and again.changes == 1
    assert _intervals(restarted) == {1}


def test_a_restart_while_the_baseline_cannot_be_read_passes_the_interval_over(
    ledger: Ledger,
) -> None:
    """A new process whose first listing leaves the baseline out as unreadable: as the
    live run does, the interval is passed over. It used to be taken for a change of the
    comparison (to the stable): the evidence read back was dropped and a change counted,
    then once the baseline could be read, dropped and counted again."""
    from tests.unit.canary_loop.test_canary_baseline import _Unreadable

    live, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    add_baseline(live, cluster)
    for _ in range(5):
        clock.advance(60)
        live.cycle()
    (analysis,) = live.analyses.values()
    assert analysis.compared == BASELINE and analysis.changes == 0
    flaky = _Unreadable(["n1"], clock.now())
    flaky.__dict__.update(cluster.__dict__)
    flaky.unreadable = {BASELINE}
    restarted = _restarted(live, flaky)
    clock.advance(60)
    restarted.cycle()
    assert "could not be read" in restarted.errors[str(analysis.canary)]
    value, _ = ledger.guard(_start_key(analysis))
    assert value["compared"] == str(BASELINE) and value.get("changes", 0) == 0
    flaky.unreadable = set()
    clock.advance(60)
    restarted.cycle()
    (again,) = restarted.analyses.values()
    assert again.compared == BASELINE and again.changes == 0
    assert again.started_at == analysis.started_at
    assert again.evidence_since == analysis.evidence_since
    assert _intervals(restarted) == {7}  # 6 read back (the one passed over too) and this
