"""benchmarks/canary_objective.py: the truth it labels runs with, and its reliability table."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.canary import HISTORY, Corpus, W, Window
from benchmarks.canary_objective import (
    Cell,
    Outcome,
    Run,
    judge,
    objective_verdicts,
    reliability,
)


def _steady_corpus() -> Corpus:
    """One steady latency carrier, a steady error carrier and flat traffic."""
    corpus = Corpus.__new__(Corpus)
    rng = np.random.default_rng(7)
    corpus.continuous = [50.0 + rng.normal(0.0, 1.0, size=HISTORY + 4 * W)]
    corpus.errors = [np.ones(4 * W)]
    corpus.traffic = [np.full(4 * W, 100.0)]
    corpus.windows = [Window(0, HISTORY, 1)]
    return corpus


def _run(cell: Cell) -> Run:
    return Run(cell, window=0, traffic=0, traffic_start=0, error_carrier=0, error_start=0, seed=3)


@pytest.mark.parametrize("metric", ["latency", "error_rate"])
def test_a_canary_twice_its_objective_is_rolled_back_and_that_is_right(metric: str) -> None:
    outcome = judge(_steady_corpus(), _run(Cell(metric, 2.0, 50.0, 0.5, 0.01)))
    assert (outcome.decision, outcome.reason) == ("rollback", "ObjectiveBreached")
    assert outcome.right
    assert outcome.objective_strength > 0


@pytest.mark.parametrize("metric", ["latency", "error_rate"])
def test_a_canary_at_half_its_objective_is_promoted_and_that_is_right(metric: str) -> None:
    outcome = judge(_steady_corpus(), _run(Cell(metric, 0.5, 50.0, 0.5, 0.01)))
    assert outcome.decision == "promote"
    assert outcome.right


def _outcome(decision: str, reason: str, confidence: float, right: bool) -> Outcome:
    cell = Cell("error_rate", 2.0, 50.0, 0.1, 0.01)
    return Outcome(cell, decision, reason, 600.0, confidence, 1.0, right, 1.0, 1.0)


def test_only_verdicts_an_objective_decided_are_scored() -> None:
    rows = [
        _outcome("rollback", "ObjectiveBreached", 0.99, True),
        _outcome("rollback", "CriticalRegression", 0.99, False),
        _outcome("promote", "WithinTolerance", 0.7, True),
        _outcome("inconclusive", "Unclear", 0.5, True),
    ]
    kept = objective_verdicts(rows)
    assert [o.reason for o in kept] == ["ObjectiveBreached", "WithinTolerance"]


def test_reliability_bins_stated_confidence_against_share_right() -> None:
    rows = [
        _outcome("rollback", "ObjectiveBreached", 0.99, True),
        _outcome("rollback", "ObjectiveBreached", 0.99, False),
        _outcome("promote", "WithinTolerance", 0.65, True),
        _outcome("promote", "WithinTolerance", 0.65, True),
    ]
    table, ece = reliability(rows)
    assert table == [("[0.6, 0.7)", 2, pytest.approx(0.65), 1.0), ("[0.9, 1.0]", 2, 0.99, 0.5)]
    # half the verdicts 0.35 under their share right, half 0.49 over it
    assert ece == pytest.approx(0.5 * 0.35 + 0.5 * 0.49)
