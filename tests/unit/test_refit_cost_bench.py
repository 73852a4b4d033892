"""Smoke test of benchmarks/refit_cost.py's ``profile`` mode (the scaling loop's refit)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.refit_cost import _profile_row, synthetic_series
from forecasting.series import make_series


@pytest.mark.parametrize(
    ("step", "days", "points", "held"), [(300.0, 7, 2016, 12), (60.0, 7, 10080, 60)]
)
def test_profile_row_times_the_loop_refit(step: float, days: int, points: int, held: int) -> None:
    series = []
    for i in range(3):
        ts, vs = synthetic_series(i, 14, step)
        series.append(make_series(ts, vs, step=step))
    row = _profile_row(series, days)
    assert row.startswith(
        f"| profile (scaling loop refit, profileHistory {days} d: {points} points"
    )
    assert f"{held} held out" in row
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "3"
    assert all(np.isfinite(float(c)) for c in cells[2:5])
    assert cells[5].endswith("(measured)")
