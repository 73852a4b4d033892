"""The map from an incident's opening score to the share of such incidents that were real,
and the benchmark's cross-validation over files that measures it held out."""

from __future__ import annotations

import math

import pytest

from benchmarks.anomaly_calibration import OpenedIncident, cross_validated
from forecasting.anomaly.calibration import NAB, IncidentCalibration


def test_the_fit_pools_adjacent_violators_into_a_non_decreasing_step_function() -> None:
    # 0.8 real and 0.9 not: the order is violated, so the two are pooled at 0.5
    fitted = IncidentCalibration.fit([0.7, 0.8, 0.9, 0.95], [False, True, False, True], prior=0)
    assert fitted.edges == (0.7, 0.8, 0.95)
    assert fitted.probabilities == (0.0, 0.5, 1.0)
    assert fitted.incidents == 4
    assert fitted.probability(0.85) == 0.5
    assert fitted.probability(0.99) == 1.0
    # below the first edge (a query whose threshold is lower): the lowest step
    assert fitted.probability(0.5) == 0.0
    assert fitted.probability(math.nan) == 0.0


def test_each_step_is_shrunk_towards_the_overall_share() -> None:
    """A step fitted on one incident must not claim certainty: two incidents' worth of
    the overall share (1 real in 4: 0.25) is added to every step."""
    fitted = IncidentCalibration.fit([0.7, 0.8, 0.9, 0.95], [False, True, False, True], prior=2)
    # overall 0.5: (0 + 1) / (1 + 2), (1 + 1) / (2 + 2), (1 + 1) / (1 + 2)
    assert fitted.probabilities == (round(1 / 3, 3), 0.5, round(2 / 3, 3))
    one_real = IncidentCalibration.fit([0.7, 0.8, 0.9, 0.95], [False, False, False, True])
    assert one_real.probabilities[-1] == round((1 + 2 * 0.25) / 3, 3)  # 0.5, not 1


def test_a_table_that_is_not_a_non_decreasing_step_function_is_refused() -> None:
    with pytest.raises(ValueError, match="must not decrease"):
        IncidentCalibration((0.7, 0.8), (0.5, 0.4), 10)
    with pytest.raises(ValueError, match="edges must increase"):
        IncidentCalibration((0.8, 0.7), (0.4, 0.5), 10)
    with pytest.raises(ValueError, match="as many edges"):
        IncidentCalibration((), (), 0)
    with pytest.raises(ValueError, match="as many outcomes"):
        IncidentCalibration.fit([0.7], [])


def test_the_shipped_map_says_no_incident_is_certain() -> None:
    """What the daemon's signals carry: a probability that rises with the score, and
    none near the 0.9999 every incident's 1 - tail states."""
    assert NAB.incidents > 100
    assert NAB.probability(0.69) < NAB.probability(0.99) < 0.9


def test_the_cross_validation_maps_each_file_with_a_fit_on_the_other_files_only() -> None:
    """Five files, every incident at the same score; only file a's were real. Held out,
    a's incidents are mapped by the other four files' fit, which has never seen a real
    incident: they get a low probability, though in sample they are all real."""
    found = [
        OpenedIncident(name, row, 0.9, 1.0, name == "a") for name in "abcde" for row in range(10)
    ]
    mapped = cross_validated(found, list("abcde"))
    of_a = {p for p, x in zip(mapped, found, strict=True) if x.file == "a"}
    assert of_a == {0.0}  # (0 real + 2 x 0) / (40 + 2)
    of_b = {p for p, x in zip(mapped, found, strict=True) if x.file == "b"}
    assert of_b == {round((10 + 2 * 0.25) / (40 + 2), 3)}
