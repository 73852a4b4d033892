"""Hypothesis strategies for load traces with the damage real metrics carry.

A trace is drawn as a shape (flat, a daily-like wave, noise, zeros, a ramp, all
missing, negative) plus explicit damage: single odd samples (NaN, +/-Inf, negative,
zero, a 10^12 spike, values near the float maximum) and runs of gaps. Drawing the shape
from a seed keeps examples of thousands of points cheap to generate and to shrink.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from forecasting.series import FloatArray

STEP = 60.0
DAY_SLOTS = 1440

ODD_VALUES = (
    math.nan,
    math.inf,
    -math.inf,
    -1.0,
    0.0,
    1e12,
    1e300,
    1.7976931348623157e308,
    5e-324,
)
SHAPES = ("flat", "wave", "noise", "zeros", "ramp", "missing", "negative")


@st.composite
def load_values(
    draw: st.DrawFn,
    *,
    min_size: int = 0,
    max_size: int = 3 * DAY_SLOTS,
    period: int = DAY_SLOTS,
    odd: tuple[float, ...] = ODD_VALUES,
) -> FloatArray:
    """Up to ``max_size`` samples; ``period`` (in samples) is the wave's period."""
    n = draw(
        st.one_of(
            st.integers(min_value=min_size, max_value=max_size),
            st.sampled_from(sorted({min_size, min_size + 1, min_size + 2, max_size})),
            # long enough to fit a profile (hypothesis favours small integers otherwise)
            st.integers(min_value=max(min_size, max_size * 2 // 3), max_value=max_size),
        )
    )
    # the wave half the time: the only shape a seasonal model should fit
    shape = draw(st.just("wave") | st.sampled_from(SHAPES))
    level = draw(st.sampled_from([0.0, 1e-6, 1.0, 100.0, 5e4, 1e9]))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    if shape == "flat":
        values = np.full(n, level)
    elif shape == "wave":
        wave = 1.0 + 0.6 * np.sin(2.0 * np.pi * t / period)
        values = level * wave * rng.lognormal(0.0, 0.05, n)
    elif shape == "noise":
        values = np.abs(rng.normal(level, 0.3 * level + 1e-9, n))
    elif shape == "zeros":
        values = np.zeros(n)
    elif shape == "ramp":
        values = level * (1.0 + t / max(1, n))
    elif shape == "missing":
        values = np.full(n, np.nan)
    else:
        values = -np.abs(rng.normal(level + 1.0, 1.0, n))
    if n:
        for where, value in draw(
            st.lists(
                st.tuples(st.floats(min_value=0.0, max_value=1.0), st.sampled_from(odd)),
                max_size=6,
            )
        ):
            values[round(where * (n - 1))] = value
        for where, length in draw(
            st.lists(
                st.tuples(
                    st.floats(min_value=0.0, max_value=1.0),
                    st.integers(min_value=1, max_value=60) | st.integers(min_value=1, max_value=n),
                ),
                max_size=3,
            )
        ):
            first = round(where * (n - 1))
            values[first : first + length] = np.nan
    return values


def small_values(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[FloatArray]:
    """Short series of arbitrary floats (any double at all, NaN and infinities included)."""
    return st.lists(st.floats(width=64), min_size=min_size, max_size=max_size).map(
        lambda xs: np.asarray(xs, dtype=np.float64)
    )
