"""One canary whose judging fails does not stop the judging of the others.

An error that is neither a ``TransientError`` nor one the judge expects (a bug, a stored
analysis that cannot be read) raised while judging one canary used to end the canary
cycle, at every cycle: no canary after it was judged, and the gauges were not
published. It is now counted in ``autonomic_errors_total{kind="Unexpected"}`` each
time, logged with its traceback when its error is new, kept as why the canary was not
judged (the verdict endpoints' reason while it has no verdict), and the other
canaries go on; it is judged again at the next cycle. A ``TransientError`` still ends the cycle."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kube_errors import BadObjectError
from agent.clock import FakeClock
from agent.errors import TransientError
from agent.ledger import Ledger, open_ledger
from agent.loops.canary import CANARY_OF, CanaryLoop
from agent.observability import Metrics
from agent.sim.cluster import SimCluster, SimWorkload, Template
from agent.sim.metrics import SimMetrics
from remediation.ports import ObjectRef
from tests.unit.canary_loop.test_canary_loop import CANARY, STABLE, rig

CART = ObjectRef("Deployment", "cart", "shop")
CART_CANARY = ObjectRef("Deployment", "cart-canary", "shop")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", 0)
    yield opened
    opened.close()


def _two_canaries(ledger: Ledger) -> tuple[CanaryLoop, FakeClock, Metrics]:
    """search-canary (slow: rolled back) and cart-canary (as fast as its stable)."""
    loop, _, clock, cluster = rig(ledger, canary_slowdown=1.5)
    assert isinstance(loop.reader, SimMetrics) and isinstance(loop.cluster, SimCluster)
    labels = {"autonomic.dev/enabled": "true"}
    cluster.add_workload(SimWorkload(CART, 4, {1: Template("cart:3")}, 1, 80, 30, labels=labels))
    cluster.add_workload(
        SimWorkload(
            CART_CANARY, 1, {1: Template("cart:4")}, 1, 80, 30, labels={**labels, CANARY_OF: "cart"}
        )
    )
    rng = random.Random(7)
    for minute in range(120):
        at = clock.now() + 60 * minute
        for ref in (CART, CART_CANARY):
            series = {"namespace": "shop", "deployment": ref.name}
            loop.reader.record("lat", series, at, 100 * rng.lognormvariate(0, 0.05))
            loop.reader.record("req", series, at, 600.0)
            loop.reader.record("err", series, at, float(rng.random() < 0.3))
    loop.metrics = Metrics()
    return loop, clock, loop.metrics


def _unexpected(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("autonomic_errors_total", {"kind": "Unexpected"})
    return value or 0.0


def _fails(loop: CanaryLoop, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Judging search-canary raises ``error``."""
    real = loop._step

    def step(analysis: Any, now: float) -> None:
        if analysis.canary == CANARY:
            raise error
        real(analysis, now)

    monkeypatch.setattr(loop, "_step", step)


def test_a_canary_whose_judging_fails_does_not_stop_the_others(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    loop, clock, metrics = _two_canaries(ledger)
    _fails(loop, monkeypatch, RuntimeError("a bug in the judge"))
    caplog.set_level(logging.ERROR, logger="autonomic")
    for _ in range(5):  # raised here before, at every cycle
        clock.advance(60)
        loop.cycle()
    judged = {a.canary for a in loop.analyses.values() if a.history}
    assert judged == {CART_CANARY}
    assert _unexpected(metrics) == 5.0
    said = [rec for rec in caplog.records if str(CANARY) in rec.getMessage()]
    assert len(said) == 1 and said[0].exc_info is not None  # once: the same error
    assert "RuntimeError: a bug in the judge" in said[0].getMessage()
    assert "RuntimeError: a bug in the judge" in loop.errors[str(CANARY)]
    monkeypatch.undo()
    clock.advance(60)
    loop.cycle()  # fixed: judged again
    assert {a.canary for a in loop.analyses.values() if a.history} == {CANARY, CART_CANARY}
    assert str(CANARY) not in loop.errors


def test_a_transient_error_in_one_canary_still_ends_the_cycle(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop, clock, metrics = _two_canaries(ledger)
    real = loop._judge_pair

    def judge_pair(pair: Any, now: float) -> None:
        if pair.canary == CANARY:
            raise TransientError("the ledger failed: disk I/O error")
        real(pair, now)

    monkeypatch.setattr(loop, "_judge_pair", judge_pair)
    clock.advance(60)
    with pytest.raises(TransientError):
        loop.cycle()
    assert _unexpected(metrics) == 0.0


def test_a_canary_whose_stable_cannot_be_read_does_not_stop_the_others(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stable a canary names is there but came in a shape that cannot be read: the
    Kubernetes adapter leaves it out of its listing and ``get_workload`` raises
    ``BadObjectError``. Pairing search-canary with it raised out of the cycle before
    (the pair was made outside the per-canary guard), at every cycle: cart-canary,
    listed after it, was never judged. Now search-canary alone is not judged, with the
    adapter's reason kept as why."""
    loop, clock, metrics = _two_canaries(ledger)
    cluster = loop.cluster
    assert isinstance(cluster, SimCluster)
    why = "Deployment shop/search: spec.replicas is -1, not a count"
    real_get, real_list = cluster.get_workload, cluster.list_workloads

    def get_workload(ref: ObjectRef) -> Any:
        if ref == STABLE:
            raise BadObjectError(why)
        return real_get(ref)

    monkeypatch.setattr(cluster, "get_workload", get_workload)
    monkeypatch.setattr(
        cluster,
        "list_workloads",
        lambda namespace=None: [w for w in real_list(namespace) if w.ref != STABLE],
    )
    for _ in range(3):
        clock.advance(60)
        loop.cycle()
    assert {a.canary for a in loop.analyses.values() if a.history} == {CART_CANARY}
    assert why in loop.errors[str(CANARY)]
    counted = metrics.registry.get_sample_value("autonomic_errors_total", {"kind": "BadObject"})
    assert counted == 3.0
    monkeypatch.undo()
    clock.advance(60)
    loop.cycle()  # readable again: judged
    assert {a.canary for a in loop.analyses.values() if a.history} == {CANARY, CART_CANARY}
    assert str(CANARY) not in loop.errors
