"""Synthetic series with known structure, so tests can assert what a model should find."""

from __future__ import annotations

import numpy as np

from forecasting.series import Series, make_series

HOUR = 3600.0


def daily_series(
    days: int = 21,
    step: float = HOUR,
    *,
    noise: float = 1.0,
    weekly: float = 0.0,
    level: float = 100.0,
    seed: int = 0,
) -> Series:
    """Level + a daily sine (amplitude 30) + optional weekend dip + gaussian noise."""
    rng = np.random.default_rng(seed)
    n = int(days * 86400 / step)
    t = np.arange(n) * step
    day = 30.0 * np.sin(2 * np.pi * t / 86400.0)
    weekend = np.where(((t // 86400) % 7) >= 5, -weekly, 0.0)
    values = level + day + weekend + rng.normal(0.0, noise, n)
    return make_series(t, values, step=step, name="synthetic")


def values_series(values: list[float] | np.ndarray, step: float = 60.0) -> Series:
    values = np.asarray(values, dtype=np.float64)
    return make_series(np.arange(values.size) * step, values, step=step)
