"""Anomaly likelihood: how rare is this raw score for *this* series?

Raw detector outputs are not comparable across series (a noisy metric produces large
residuals all the time). Following Numenta's anomaly likelihood, the raw score is averaged
over a short window and compared with the long-run distribution of raw scores of the same
series (a running mean and variance with exponential forgetting, started from a prior so
that a young series is judged conservatively). The tail probability of the short average
under that distribution gives ``confidence = 1 - tail`` and a log-scaled score that spreads
the interesting range (tail 1e-3 .. 1e-10) over [0.3, 1].
"""

from __future__ import annotations

import math
from typing import Any

from forecasting.anomaly._state import decode_float, encode_float, require

__all__ = ["ScoreLikelihood", "log10_tail", "surprise_score"]

_SQRT2 = math.sqrt(2.0)


def log10_tail(z: float) -> float:
    """log10 of the upper normal tail probability Q(z), accurate far into the tail."""
    if z < 8.0:
        return math.log10(max(0.5 * math.erfc(z / _SQRT2), 1e-300))
    # Mills-ratio asymptote: Q(z) ~ phi(z) / z
    return (-0.5 * z * z - math.log(z * math.sqrt(2.0 * math.pi))) / math.log(10.0)


def surprise_score(surprise: float, half: float) -> float:
    """Map -log10(tail) to [0, 1) without saturating: ``half`` -> 0.5, larger -> closer to 1.

    Unlike a clipped log, very strong anomalies stay ordered among themselves, which is
    what one global alert threshold needs.
    """
    if surprise <= 0.0:
        return 0.0
    return surprise / (surprise + half)


class ScoreLikelihood:
    __slots__ = (
        "_mean",
        "_short",
        "_var",
        "_weight",
        "alpha",
        "clip",
        "prior_weight",
        "short_alpha",
    )

    def __init__(
        self,
        *,
        window: int = 2000,
        short: int = 5,
        prior_mean: float = 1.0,
        prior_sd: float = 1.0,
        prior_weight: float = 30.0,
        clip: float = 6.0,
    ) -> None:
        self.alpha = 1.0 / max(2, window)
        self.short_alpha = 2.0 / (max(1, short) + 1.0)
        self.clip = clip
        self.prior_weight = prior_weight
        self._mean = prior_mean
        self._var = prior_sd * prior_sd
        self._weight = prior_weight
        self._short = math.nan

    def update(self, raw: float) -> float:
        """Feed a raw score (>= 0); return -log10 of the tail probability of the recent average."""
        short = self._short
        short = raw if math.isnan(short) else short + self.short_alpha * (raw - short)
        self._short = short
        mean, var = self._mean, self._var
        sd = math.sqrt(var) if var > 1e-12 else 1e-6
        z = (short - mean) / sd
        surprise = -log10_tail(z)
        # learn the distribution of raw scores, winsorised so anomalies do not inflate it
        weight = self._weight + 1.0
        self._weight = weight
        rate = max(1.0 / weight, self.alpha)
        clipped = min(raw, mean + self.clip * sd)
        delta = clipped - mean
        mean += rate * delta
        self._mean = mean
        self._var = (1.0 - rate) * (var + rate * delta * delta)
        return surprise

    def state(self) -> dict[str, Any]:
        return {
            "mean": self._mean,
            "var": self._var,
            "weight": self._weight,
            "short": encode_float(self._short),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._mean = decode_float(require(state, "mean"), "likelihood.mean")
        self._var = decode_float(require(state, "var"), "likelihood.var")
        self._weight = decode_float(require(state, "weight"), "likelihood.weight")
        self._short = decode_float(require(state, "short"), "likelihood.short")
