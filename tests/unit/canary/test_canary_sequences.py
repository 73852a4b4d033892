from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.canary.sequences import (
    ar1_inflation,
    binomial_bounds,
    fewer_events_upper,
    long_run_inflation,
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


def _ar1(rng: np.random.Generator, phi: float, n: int) -> list[float]:
    x = [rng.standard_normal() / math.sqrt(1.0 - phi * phi)]
    for e in rng.standard_normal(n - 1):
        x.append(phi * x[-1] + e)
    return x


def test_long_run_inflation_matches_the_persistence_once_the_data_show_it() -> None:
    rng = np.random.default_rng(2)
    white = list(rng.standard_normal(2000))
    assert long_run_inflation(white, float(np.mean(white))) < 1.2
    ar = _ar1(rng, 0.8, 2000)
    assert 6.0 < long_run_inflation(ar, float(np.mean(ar))) < 12.0  # (1+0.8)/(1-0.8) = 9
    # a short series cannot rule out a slow drift: 8 white points get a wide factor, which
    # shrinks as the series grows and keeps showing no drift
    early = [
        long_run_inflation(w, float(np.mean(w)))
        for w in (list(rng.standard_normal(8)) for _ in range(50))
    ]
    later = [
        long_run_inflation(w, float(np.mean(w)))
        for w in (list(rng.standard_normal(40)) for _ in range(50))
    ]
    assert float(np.median(early)) > 3.0
    assert float(np.median(later)) < 1.6
    # 10 points of a phi 0.95 drift (true factor near 39): the lag-1 point estimate often
    # calls them nearly independent (factor below 3); weighing every phi never does
    drifting = [_ar1(rng, 0.95, 10) for _ in range(200)]
    point = np.array([ar1_inflation(d, float(np.mean(d))) for d in drifting])
    weighed = np.array([long_run_inflation(d, float(np.mean(d))) for d in drifting])
    assert np.mean(point < 3.0) > 0.2
    assert np.mean(weighed < 3.0) < 0.02
    assert float(np.median(weighed)) > 2.0 * float(np.median(point))


def test_long_run_inflation_is_at_least_one_and_finite() -> None:
    assert long_run_inflation([1.0, 1.0, 1.0, 1.0], 1.0) == 1.0
    assert long_run_inflation([1.0, 2.0], 1.5) == 1.0
    alternating = [(-1.0) ** i for i in range(30)]
    assert 1.0 <= long_run_inflation(alternating, 0.0) < 1.5  # no credit for phi < 0
    ramp = [float(i) for i in range(60)]
    assert 1.0 < long_run_inflation(ramp, float(np.mean(ramp))) < math.inf


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


def test_fewer_events_upper_with_no_event_is_about_log_one_over_alpha_per_trial() -> None:
    # the mixture's largest term is (1 - p)**-n, and its r = 0 term is a seventh of that,
    # so with no event the bound lies between the fixed-sample exact bound 1 - alpha**(1/n)
    # (what a single look could claim) and 1 - (alpha / 7)**(1/n): about 4.6/n to 6.6/n at 1 %
    for n in (10, 80, 1000, 10**6):
        for alpha in (0.005, 0.01, 0.05):
            upper = fewer_events_upper(0, n, alpha)
            assert 1.0 - alpha ** (1.0 / n) <= upper <= 1.0 - (alpha / 7.0) ** (1.0 / n)
    assert 4.6 < 1000 * fewer_events_upper(0, 1000, 0.01) < 6.5
    # and it is sharper than the two-sided beta-binomial bound, which needs more trials
    assert fewer_events_upper(0, 1000, 0.01) < binomial_bounds(0, 1000, 0.01)[1]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.integers(1, 3000), st.sampled_from([0.01, 0.05, 0.2]))
def test_fewer_events_upper_is_monotone_and_never_below_the_observed_rate(
    k: int, extra: int, alpha: float
) -> None:
    n = k + extra
    upper = fewer_events_upper(k, n, alpha)
    assert k / n <= upper <= 1.0
    assert fewer_events_upper(k + 1, n + 1, alpha) >= upper  # one more event: higher
    assert fewer_events_upper(k, n + 1, alpha) <= upper  # one more clean trial: lower
    assert fewer_events_upper(k, n, alpha / 10) >= upper  # surer: higher


def test_fewer_events_upper_without_counts_or_with_only_events_says_nothing() -> None:
    assert fewer_events_upper(0, 0, 0.01) == 1.0
    assert fewer_events_upper(5, 5, 0.01) == 1.0
    # fractional (tempered) counts are accepted
    assert 0.5 / 3.2 < fewer_events_upper(0.5, 3.2, 0.01) < 1.0


def test_fewer_events_upper_covers_the_true_rate_at_every_look() -> None:
    # 150 seeded paths of 2,000 trials at a 2 % rate, looked at every 100 trials: the
    # share of paths on which the bound ever fell below the true rate is at most alpha
    rng = np.random.default_rng(11)
    p, alpha, paths, misses = 0.02, 0.1, 150, 0
    for _ in range(paths):
        counts = np.cumsum(rng.random(2000) < p)
        misses += any(
            fewer_events_upper(int(counts[n - 1]), n, alpha) < p for n in range(100, 2001, 100)
        )
    assert misses / paths <= alpha
