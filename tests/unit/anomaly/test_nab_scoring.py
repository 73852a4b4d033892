"""The NAB scorer in benchmarks/ against values worked out by hand from NAB's rules."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def load_scorer() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "nab_scoring.py"
    spec = importlib.util.spec_from_file_location("nab_scoring_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


nab = load_scorer()
STANDARD = nab.Profile("standard", tp=1.0, fp=0.11, fn=1.0)


def corpus() -> object:
    # 100 rows: probation = floor(0.15 * 100) = 15 rows; one window, rows 50..59
    return nab.Corpus([nab.LabelledFile("a.csv", 100, 15, ((50, 59),))], [STANDARD])


def sigmoid(x: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def test_probation_is_fifteen_percent_capped_at_750_rows() -> None:
    assert nab.probation_length(100) == 15
    assert nab.probation_length(4032) == 604
    assert nab.probation_length(22695) == 750


def test_null_detector_scores_zero_and_perfect_one_hundred() -> None:
    c = corpus()
    assert c.sweep({"a.csv": np.zeros(100)}, STANDARD).normalised == 0.0
    perfect = np.zeros(100)
    perfect[50] = 1.0  # the first row of the window earns the full true-positive weight
    assert c.sweep({"a.csv": perfect}, STANDARD).normalised == pytest.approx(100.0)


def test_late_detection_and_false_positive_follow_the_scaled_sigmoid() -> None:
    scores = np.zeros(100)
    scores[57] = 0.9  # 3 rows before the right edge: position -(59 - 57 + 1) / 10
    scores[70] = 0.9  # 11 rows after the window: position 11 / (10 - 1)
    scores[20] = 0.5  # before any window: a flat -fp, but below the chosen threshold
    scores[5] = 1.0  # inside probation: ignored
    result = corpus().sweep({"a.csv": scores}, STANDARD)
    tp = sigmoid(-0.3) / sigmoid(-1.0)
    fp = 0.11 * sigmoid(11 / 9)
    assert result.threshold == 0.9
    assert result.raw == pytest.approx(tp + fp)
    assert result.normalised == pytest.approx(100 * (tp + fp + 1) / 2)
    assert (result.detected_windows, result.false_positive_rows) == (1, 1)


def test_a_fixed_threshold_counts_every_row_at_or_above_it() -> None:
    scores = np.zeros(100)
    scores[20] = 0.5
    result = corpus().sweep({"a.csv": scores}, STANDARD, threshold=0.5)
    assert result.raw == pytest.approx(-1.0 - 0.11)
