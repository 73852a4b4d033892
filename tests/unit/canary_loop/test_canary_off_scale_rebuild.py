"""A restart counts a canary off the scale as the live run did, whatever the mix.

The live run reads each interval with an instant query, which keeps +-Inf; a restart
reads the intervals since the start back with range queries, which make +-Inf a gap and
say where it was. Whatever the canary's p99 does, finite, missing (NaN), +Inf or -Inf,
against a baseline finite, missing or +Inf, the judge rebuilt after a restart must be
where the live one is: the same ``OffScale`` run (counted, worse, better, passed over),
the same verdicts at the same intervals, the same decision in the ledger."""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.ledger import Ledger, open_ledger
from agent.loops.canary import CanaryLoop
from agent.sim.metrics import SimMetrics
from tests.unit.canary_loop.test_canary_catch_up import _PrometheusLike, _set
from tests.unit.canary_loop.test_canary_loop import rig

# What a side's p99 is at one interval: None keeps the rig's own (finite) value.
_CANARY = [None, math.nan, math.inf, -math.inf]
_BASELINE = [None, None, math.nan, math.inf]


@st.composite
def _mixes(draw: st.DrawFn) -> list[tuple[float | None, float | None]]:
    """Intervals whose values come from a few kinds each, drawn per example, so that runs
    of 8 off the scale (with NaN, -Inf or a baseline off the scale between) are common."""
    canary = draw(st.lists(st.sampled_from(_CANARY), min_size=1, max_size=4, unique=True))
    baseline = draw(st.lists(st.sampled_from(_BASELINE), min_size=1, max_size=3))
    pair = st.tuples(st.sampled_from(baseline), st.sampled_from(canary))
    return draw(st.lists(pair, min_size=4, max_size=22))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty ledger, migrated once: each run opens a copy (a fresh ledger's migration
    is most of a run's time)."""
    path = tmp_path_factory.mktemp("ledger") / "empty.sqlite"
    open_ledger(f"sqlite:///{path}", 0).close()
    return path


def _run(
    migrated: Path,
    values: list[tuple[float | None, float | None]],
    restart: int | None,
    offset: float,
) -> tuple[list[tuple[str, str, str]], object, object, list[tuple[str, float]]]:
    """Run ``len(values)`` cycles of the canary loop on a rig whose p99 at cycle i is
    ``values[i]`` (baseline, canary); with ``restart``, a new process takes over after
    that many cycles, ``offset`` seconds off the first one's grid. Returns the canary
    decisions recorded, the latest verdict (its clock aside), the off-scale run of the
    judge and the verdicts at each interval."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "l.sqlite"
        shutil.copy(migrated, path)
        ledger = open_ledger(f"sqlite:///{path}", 0)
        try:
            return _cycles(ledger, values, restart, offset)
        finally:
            ledger.close()


def _cycles(
    ledger: Ledger,
    values: list[tuple[float | None, float | None]],
    restart: int | None,
    offset: float,
) -> tuple[list[tuple[str, str, str]], object, object, list[tuple[str, float]]]:
    loop, _signals, clock, cluster = rig(ledger, canary_slowdown=1.0)
    metrics = loop.reader
    assert isinstance(metrics, SimMetrics)
    for cycle, (base, canary) in enumerate(values, start=1):
        at = clock.now() + 60 * cycle
        if base is not None:
            _set(metrics, "lat", "search", at, base)
        if canary is not None:
            _set(metrics, "lat", "search-canary", at, canary)
    cycles = len(values)
    if restart is not None:
        for _ in range(restart):
            clock.advance(60)
            loop.cycle()
        loop = CanaryLoop(
            loop.settings,
            reader=_PrometheusLike(metrics),
            cluster=cluster,
            decisions=loop.decisions,
            clock=clock,
            submit=[].extend,
            events=loop.events,
        )
        # Half a period late, its first cycle reads what the first process's last
        # one read (the sample at its time); on the grid, the next one's.
        clock.advance(offset)
        loop.cycle()
        cycles -= restart + (offset == 60.0)
    for _ in range(cycles):
        clock.advance(60)
        loop.cycle()
    decisions = [
        (str(d.proposal["verdict"]), str(d.evidence.get("judge_reason")), d.reason)
        for d in ledger.decisions(kind="canary")
    ]
    (analysis,) = loop.analyses.values()
    latest = analysis.latest
    if latest is not None and not analysis.recorded:
        latest = replace(latest, elapsed_seconds=0.0, decided_after_seconds=None)
    run = dict(analysis.judge._off_scale)
    history = [(h[1], h[2]) for h in analysis.history]
    return decisions, latest, run, history


@settings(max_examples=15, deadline=None)
@given(
    values=_mixes(),
    cut=st.floats(0.0, 1.0),
    offset=st.sampled_from([30.0, 60.0]),
)
# +Inf and -Inf by turns, with no canary value or a baseline off the scale between
@example(
    values=[(None, math.inf), (None, math.nan), (math.inf, -math.inf), (math.nan, math.inf)] * 5,
    cut=0.5,
    offset=30.0,
)
def test_a_restart_counts_off_scale_intervals_as_the_live_run_in_any_mix(
    migrated: Path, values: list[tuple[float | None, float | None]], cut: float, offset: float
) -> None:
    restart = 1 + int(cut * (len(values) - 2))  # at least one cycle each side of it
    live = _run(migrated, values, None, offset)
    rebuilt = _run(migrated, values, restart, offset)
    decisions, latest, run, history = live
    assert rebuilt[0] == decisions
    if not decisions:  # a final verdict before the restart is taken from the ledger
        assert rebuilt[1] == latest
        assert rebuilt[2] == run
        # the restart's own history starts with what it read back
        assert rebuilt[3] == history
