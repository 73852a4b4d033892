from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.canary.sequences import (
    ar1_inflation,
    binomial_bounds,
    normal_mixture_log_evalue,
    normal_mixture_radius,
)


def test_normal_mixture_bound_holds_over_every_look() -> None:
    # 2000 paths of 200 looks of N(0,1): the share that ever leaves the band is <= alpha
    rng = np.random.default_rng(7)
    alpha = 0.05
    steps = rng.standard_normal((2000, 200))
    sums = np.cumsum(steps, axis=1)
    n = np.arange(1, 201)
    radius = np.array([normal_mixture_radius(float(k), 10.0, alpha) for k in n])
    ever_out = np.any(np.abs(sums) >= radius, axis=1).mean()
    assert ever_out <= alpha
    # and it is not vacuous: a fixed-n 95 % z-interval looked at 200 times leaks far more
    naive = np.any(np.abs(sums) >= 1.96 * np.sqrt(n), axis=1).mean()
    assert naive > 3 * alpha


def test_evalue_crosses_threshold_exactly_at_radius() -> None:
    v, rho, alpha = 50.0, 10.0, 0.01
    r = normal_mixture_radius(v, rho, alpha)
    assert math.isclose(normal_mixture_log_evalue(r, v, rho), math.log(1 / alpha), rel_tol=1e-9)


def test_ar1_inflation_grows_with_autocorrelation() -> None:
    rng = np.random.default_rng(1)
    white = list(rng.standard_normal(2000))
    ar = [0.0]
    for e in rng.standard_normal(1999):
        ar.append(0.8 * ar[-1] + e)
    assert ar1_inflation(white, float(np.mean(white))) < 1.2
    assert 6.0 < ar1_inflation(ar, float(np.mean(ar))) < 12.0  # (1+0.8)/(1-0.8) = 9


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 400), st.integers(1, 400), st.sampled_from([0.01, 0.05, 0.2]))
def test_binomial_bounds_are_ordered_and_contain_the_estimate(
    k: int, extra: int, alpha: float
) -> None:
    n = k + extra
    lo, hi = binomial_bounds(k, n, alpha)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    wider_lo, wider_hi = binomial_bounds(k, n, alpha / 10)
    assert wider_lo <= lo + 1e-12 and wider_hi >= hi - 1e-12


def test_binomial_bounds_cover_the_true_rate_at_every_look() -> None:
    rng = np.random.default_rng(3)
    p, alpha, misses = 0.02, 0.05, 0
    for _ in range(100):
        draws = rng.random(3000) < p
        k = 0
        for n in range(150, 3001, 150):
            k = int(draws[:n].sum())
            lo, hi = binomial_bounds(k, n, alpha)
            if not lo <= p <= hi:
                misses += 1
                break
    assert misses / 100 <= alpha


def test_zero_events_give_a_shrinking_upper_bound() -> None:
    uppers = [binomial_bounds(0, n, 0.01)[1] for n in (100, 1000, 10000)]
    assert uppers[0] > uppers[1] > uppers[2] > 0
    assert uppers[2] < 0.002
