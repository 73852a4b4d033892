"""Anytime-valid building blocks: confidence sequences and e-processes.

A fixed-sample test checked every minute rejects far more often than its nominal level;
the bounds here hold simultaneously over every look (Robbins' mixture martingales, as in
Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform, nonparametric, nonasymptotic
confidence sequences", 2021), so the judge may be asked as often as the daemon likes.

Two honest caveats, both measured by the canary benchmark rather than assumed away: the
continuous bound plugs in an estimated long-run variance (a point estimate of the AR(1)
persistence, or, opted in, an average over the persistences the data cannot yet rule out:
``long_run_inflation``), and the count bounds temper their likelihoods by an estimated
over-dispersion; both make the guarantee approximate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

__all__ = [
    "ar1_inflation",
    "binomial_bounds",
    "binomial_log_evalue",
    "fewer_events_upper",
    "long_run_inflation",
    "normal_mixture_log_evalue",
    "normal_mixture_radius",
    "rate_ratio_log_evalue",
]

_MAX_PHI = 0.9
# The persistences long_run_inflation weighs, equally a priori: 0, 0.025, ..., 0.975.
_PHI_GRID = tuple(i / 40 for i in range(40))
# Beyond this many trials the binomial bounds are computed for this many at the same rate.
_MAX_EXACT_TRIALS = 1e12


def normal_mixture_radius(variance_sum: float, rho: float, alpha: float) -> float:
    """Radius r_n with P(exists n: |S_n - n*mu| >= r_n) <= alpha for sub-Gaussian steps.

    ``variance_sum`` is V_n (n times the per-step variance), ``rho`` the mixture
    precision: the boundary is tightest when V_n is near ``rho``.
    """
    _check_alpha(alpha)
    if not (math.isfinite(variance_sum) and variance_sum >= 0):
        raise ValueError(f"variance_sum must be a finite number >= 0, got {variance_sum!r}")
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho (the mixture precision) must be finite and > 0, got {rho!r}")
    v = variance_sum + rho
    # log(v / (rho * alpha**2)) in pieces: alpha**2 underflows to 0 below about 1e-162
    ratio = variance_sum / rho
    log_ratio = math.log1p(ratio) if math.isfinite(ratio) else math.log(v) - math.log(rho)
    return math.sqrt(v * (log_ratio - 2.0 * math.log(alpha)))


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha (an error probability) must be between 0 and 1, got {alpha!r}")


def normal_mixture_log_evalue(centered_sum: float, variance_sum: float, rho: float) -> float:
    """log of the two-sided normal-mixture martingale at S_n - n*mu = ``centered_sum``."""
    v = variance_sum + rho
    return 0.5 * math.log(rho / v) + centered_sum * centered_sum / (2.0 * v)


def ar1_inflation(values: Sequence[float], mean: float) -> float:
    """Long-run variance factor (1 + phi) / (1 - phi) from the lag-1 autocorrelation.

    The point estimate, used by default. ``JudgeSettings(weigh_persistence=True)`` gives
    continuous metrics ``long_run_inflation`` instead, which also weighs the persistences a
    short series cannot rule out (why, and at what cost, is in its docstring).

    Metric differences are autocorrelated; treating n correlated points as n independent
    ones shrinks intervals by sqrt((1+phi)/(1-phi)) and is the reason per-sample tests
    roll back healthy canaries. Negative phi is clipped to 0 (never claim more evidence
    than the count of points) and phi to 0.9 (beyond that the series is a random walk
    and nothing short of more time helps; a pod drifting that slowly can fool any judge
    of a one-hour window, and the unit tests say so).
    """
    n = len(values)
    if n < 3:
        return 1.0
    num = 0.0
    den = 0.0
    prev = values[0] - mean
    den += prev * prev
    for x in values[1:]:
        cur = x - mean
        num += prev * cur
        den += cur * cur
        prev = cur
    if den <= 0.0:
        return 1.0
    # the lag-1 estimate is biased towards 0 in short series; Kendall's correction
    # (1 + 3 phi) / n undoes most of it, which matters most early in a run
    raw = num / den
    phi = min(max(raw + (1.0 + 3.0 * raw) / n, 0.0), _MAX_PHI)
    return (1.0 + phi) / (1.0 - phi)


def long_run_inflation(values: Sequence[float], mean: float) -> float:
    """Long-run variance factor for the mean of ``values``, averaged over the persistence
    the data cannot rule out: E[n * (mu - mean)**2] / s**2 under an AR(1) model.

    Why not a point estimate of phi. A pod's own drift with AR(1) coefficient phi near 1
    looks, over fewer intervals than its memory (about (1 + phi) / (1 - phi)), like a
    constant offset plus noise: its lag-1 autocorrelation comes out near 0, the plug-in
    factor near 1, and an A/A canary that happens to start 15 % slower is "proven" worse
    after 8 intervals. No estimate from those 8 points can tell drift from shift; what is
    known is how plausible each persistence still is. So phi gets a uniform prior on
    0, 0.025, ..., 0.975, each value's exact AR(1) likelihood (stationary first point,
    mean and innovation variance integrated out with flat and 1/sigma priors), and the
    factor is the posterior expectation of the squared error of the sample mean, n times
    E[Var(mu | phi, data) + (E[mu | phi, data] - mean)**2] over s**2. A high phi keeps
    weight until the series has run long enough to show it is not drifting, and while it
    does, its wide variance widens the bound: the judge waits, or at the maximum duration
    says it cannot tell. White noise pays too, since a few intervals cannot exclude a slow
    drift either: on white noise the factor's median is about 11 at 8 intervals, 3 at 20,
    1.7 at 30 and 1.3 at 60, so a clear regression is rolled back later than with the
    point estimate (the canary benchmark's x1.2 runs: a median of about 1,000 s, not 540).

    Negative phi is not weighed (never claim more evidence than the count of points; the
    factor is at least 1), nor phi above 0.975: a drift that slow is, within a one-hour
    analysis, a difference the canary really has for the whole hour. The other caveat is
    the model: a drift plus white sampling noise is ARMA(1, 1), whose lag-1 correlation
    understates phi, and the AR(1) likelihood weighs high phi a little less than it should.
    Each phi costs O(1): the likelihood needs only five sums of the series.
    """
    n = len(values)
    if n < 3:
        return 1.0
    x = [v - mean for v in values]
    total_sq = math.fsum(v * v for v in x)
    if not total_sq > 0.0:
        return 1.0
    first, last = x[0], x[-1]
    head = math.fsum(x) - last  # x_1 .. x_{n-1}
    tail = head - first + last  # x_2 .. x_n
    head_sq = total_sq - last * last
    tail_sq = total_sq - first * first
    cross = math.fsum(a * b for a, b in pairwise(x))
    m = n - 1
    logs: list[float] = []
    errors: list[float] = []
    for phi in _PHI_GRID:
        # GLS of x_t - phi x_{t-1} = (1 - phi) mu + e_t, with sqrt(1 - phi**2) x_1 for the
        # first point: sums of the transformed series z and regressor a
        lead2 = 1.0 - phi * phi
        step = 1.0 - phi
        z_sum = tail - phi * head
        z_sq = tail_sq - 2.0 * phi * cross + phi * phi * head_sq
        saa = lead2 + m * step * step
        saz = lead2 * first + step * z_sum
        mu = saz / saa
        rss = max(lead2 * first * first + z_sq - saz * mu, total_sq * 1e-12)
        logs.append(0.5 * math.log(lead2) - 0.5 * math.log(saa) - 0.5 * m * math.log(rss))
        errors.append(rss / (m * saa) + mu * mu)
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    expected = math.fsum(w * e for w, e in zip(weights, errors, strict=True)) / math.fsum(weights)
    return max(1.0, n * expected / (total_sq / m))


def binomial_log_evalue(p: float, events: float, trials: float, a: float = 0.5) -> float:
    """log of Robbins' beta-binomial mixture martingale for H: rate == ``p``.

    Beta(a, a) mixing; ``events``/``trials`` may be fractional (tempered counts).
    """
    if trials <= 0:
        return 0.0
    k = events
    m = trials - events
    log_marginal = (math.lgamma(a + k) + math.lgamma(a + m) - math.lgamma(2 * a + trials)) - (
        2 * math.lgamma(a) - math.lgamma(2 * a)
    )
    log_lik = 0.0
    if k > 0:
        log_lik += k * math.log(p) if p > 0 else -math.inf
    if m > 0:
        log_lik += m * math.log1p(-p) if p < 1 else -math.inf
    return log_marginal - log_lik


def binomial_bounds(events: float, trials: float, alpha: float) -> tuple[float, float]:
    """Anytime-valid (1 - alpha) bounds on a rate from (possibly tempered) counts."""
    _check_alpha(alpha)
    if not (math.isfinite(events) and math.isfinite(trials)):
        raise ValueError(f"counts must be finite, got {events!r} of {trials!r}")
    if trials <= 0:
        return 0.0, 1.0
    if trials > _MAX_EXACT_TRIALS:
        # lgamma of counts this large leaves too few significant digits for the
        # difference that is the e-value (and overflows beyond 1e305): judge them as
        # _MAX_EXACT_TRIALS trials at the same rate, wider than exact (so still valid) and
        # already far narrower than any tolerance a rate is given
        events, trials = events * (_MAX_EXACT_TRIALS / trials), _MAX_EXACT_TRIALS
    threshold = -math.log(alpha)
    centre = min(max(events / trials, 0.0), 1.0)

    def inside(p: float) -> bool:
        return binomial_log_evalue(p, events, trials) < threshold

    def search(lo: float, hi: float, lo_inside: bool) -> float:
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if inside(mid) == lo_inside:
                lo = mid
            else:
                hi = mid
        return hi if lo_inside else lo

    lower = 0.0 if inside(0.0) or centre == 0.0 else search(centre, 0.0, True)
    upper = 1.0 if inside(1.0) or centre == 1.0 else search(centre, 1.0, True)
    return lower, upper


# The alternatives fewer_events_upper mixes over, as fractions of the rate it tests.
_FEWER_GRID = (0.0, 0.1, 0.25, 0.5, 0.7, 0.85, 0.95)


def fewer_events_log_evalue(p: float, events: float, trials: float) -> float:
    """log of an e-process against H: rate >= ``p``, for evidence of fewer events.

    An equal-weight mixture of likelihood ratios of rates r*p (r in ``_FEWER_GRID``, fixed
    in advance) to ``p``. Each ratio is a nonnegative supermartingale under any rate of
    at least ``p``: at a true rate q its expected step, q*r + (1 - q)(1 - r*p)/(1 - p), is
    1 at q = p and falls as q rises (r <= 1). So the mixture is one too, and by Ville's
    inequality it reaches 1/alpha with probability at most alpha over every look. It
    depends on the counts only through their totals, and is exact for few events: with
    none in n trials its log is about n*p - log(7), where a normal approximation or a
    two-sided mixture needs several times more trials. ``r = 0`` counts only while no
    event has been seen. ``events``/``trials`` may be fractional: counts divided by an
    over-dispersion factor phi >= 1 raise each ratio to the power 1/phi, and the mean of
    those powers is at most the untempered mixture's to that power, so tempered evidence
    never rejects where the untempered would not (for truly binomial counts, only wider).
    """
    if trials <= 0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return math.inf if events < trials else 0.0
    rest = trials - events
    lost = -math.log1p(-p)  # log(1 / (1 - p)) per trial without an event
    logs: list[float] = []
    for r in _FEWER_GRID:
        if r == 0.0:
            if events <= 0:
                logs.append(rest * lost)
            continue
        logs.append(events * math.log(r) + rest * (math.log1p(-r * p) + lost))
    top = max(logs)
    return top + math.log(math.fsum(math.exp(v - top) for v in logs) / len(_FEWER_GRID))


def fewer_events_upper(events: float, trials: float, alpha: float) -> float:
    """Anytime-valid (1 - alpha) upper bound on a rate, sharp when events are few.

    The smallest rate the e-process of ``fewer_events_log_evalue`` has not yet rejected;
    the e-value rises with the rate tested, so the rejected rates are those above it.
    """
    _check_alpha(alpha)
    if not (math.isfinite(events) and math.isfinite(trials)):
        raise ValueError(f"counts must be finite, got {events!r} of {trials!r}")
    if trials <= 0 or events >= trials:
        return 1.0
    if trials > _MAX_EXACT_TRIALS:
        events, trials = events * (_MAX_EXACT_TRIALS / trials), _MAX_EXACT_TRIALS
    threshold = -math.log(alpha)
    lo = min(max(events / trials, 0.0), 1.0)
    hi = 1.0
    if fewer_events_log_evalue(lo, events, trials) >= threshold:
        return lo
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if fewer_events_log_evalue(mid, events, trials) >= threshold:
            hi = mid
        else:
            lo = mid
    return hi


def rate_ratio_log_evalue(log_likelihood_ratios: Sequence[float], dispersion: float) -> float:
    """log of an equal-weight mixture of per-ratio likelihood ratios, tempered.

    Dividing each log-likelihood ratio by the over-dispersion factor (>= 1) is the
    quasi-likelihood correction: it keeps the e-process honest when errors arrive in
    bursts rather than independently.
    """
    if not dispersion >= 1.0:
        raise ValueError(f"dispersion must be at least 1, got {dispersion!r}")
    scaled = [llr / dispersion for llr in log_likelihood_ratios]
    top = max(scaled)
    if top == -math.inf:
        return -math.inf
    total = sum(math.exp(s - top) for s in scaled)
    return top + math.log(total / len(scaled))
