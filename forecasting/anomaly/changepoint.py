"""The change-point detector: a two-sided CUSUM on standardised deviations from the level.

Small, persistent shifts that no single point reveals add up here; when either sum passes
``threshold`` the shift is confirmed, the sums restart, and the caller re-centres its level
on the recent mean (``recent``) so the new level becomes normal instead of alarming forever.
"""

from __future__ import annotations

import math
from typing import Any

from forecasting.anomaly._state import decode_float, encode_float, require

__all__ = ["Cusum"]


class Cusum:
    __slots__ = ("_high", "_low", "_recent", "drift", "recent_alpha", "threshold")

    def __init__(
        self, *, drift: float = 0.5, threshold: float = 8.0, recent_alpha: float = 0.1
    ) -> None:
        self.drift = drift
        self.threshold = threshold
        self.recent_alpha = recent_alpha
        self._high = 0.0
        self._low = 0.0
        self._recent = math.nan

    @property
    def recent(self) -> float:
        """A short exponential mean of the values: the new level after a shift."""
        return self._recent

    def update(self, value: float, z: float) -> tuple[float, bool]:
        """Feed one value and its standardised deviation ``z``.

        Returns (strength, confirmed): strength is the larger sum over the threshold (1.0
        means "just confirmed"), confirmed is True when a shift was declared at this point.
        """
        recent = self._recent
        self._recent = (
            value if math.isnan(recent) else recent + self.recent_alpha * (value - recent)
        )
        z = max(-50.0, min(50.0, z))
        high = max(0.0, self._high + z - self.drift)
        low = max(0.0, self._low - z - self.drift)
        strength = max(high, low) / self.threshold
        if strength >= 1.0:
            self._high = self._low = 0.0
            return strength, True
        self._high, self._low = high, low
        return strength, False

    def state(self) -> dict[str, Any]:
        return {"high": self._high, "low": self._low, "recent": encode_float(self._recent)}

    def restore(self, state: dict[str, Any]) -> None:
        self._high = decode_float(require(state, "high"), "cusum.high")
        self._low = decode_float(require(state, "low"), "cusum.low")
        self._recent = decode_float(require(state, "recent"), "cusum.recent")
