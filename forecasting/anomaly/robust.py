"""The robust statistical detector: where does this value sit in the series' usual range?

A Huber-style running location and spread: each update moves the centre by the deviation
clipped at ``clip`` spreads, so a burst of outliers in the history drags the baseline only a
little, while a genuine, lasting level change is caught by the change-point detector, which
then re-centres this one (``recentre``).
"""

from __future__ import annotations

import math
from typing import Any

from forecasting.anomaly._state import decode_float, encode_float, require

__all__ = ["RobustLevel"]

_MAD_TO_SIGMA = 1.2533


class RobustLevel:
    __slots__ = ("_centre", "_n", "_spread", "alpha", "clip")

    def __init__(self, *, alpha: float = 0.005, clip: float = 3.0) -> None:
        self.alpha = alpha
        self.clip = clip
        self._centre = math.nan
        self._spread = math.nan
        self._n = 0

    @property
    def centre(self) -> float:
        return self._centre

    def sigma(self, floor: float) -> float:
        spread = self._spread
        if math.isnan(spread):
            return floor
        return max(_MAD_TO_SIGMA * spread, floor)

    def deviation(self, value: float, floor: float) -> float:
        """Signed distance of ``value`` from the centre, in robust standard deviations."""
        centre = self._centre
        if math.isnan(centre):
            return 0.0
        return (value - centre) / self.sigma(floor)

    def observe(self, value: float) -> None:
        n = self._n + 1
        self._n = n
        centre = self._centre
        if math.isnan(centre):
            self._centre, self._spread = value, 0.0
            return
        # 1/n while young (a plain running mean), then exponential forgetting
        rate = max(1.0 / n, self.alpha)
        deviation = value - centre
        spread = self._spread
        limit = self.clip * spread if spread > 0 and n > 10 else abs(deviation)
        clipped = max(-limit, min(limit, deviation))
        self._centre = centre + rate * clipped
        self._spread = spread + rate * (min(abs(deviation), limit) - spread)

    def recentre(self, centre: float) -> None:
        """Adopt a new centre after a confirmed level shift (spread is kept)."""
        if not math.isnan(centre):
            self._centre = centre

    def state(self) -> dict[str, Any]:
        return {
            "centre": encode_float(self._centre),
            "spread": encode_float(self._spread),
            "n": self._n,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._centre = decode_float(require(state, "centre"), "robust.centre")
        self._spread = decode_float(require(state, "spread"), "robust.spread")
        self._n = int(require(state, "n"))
